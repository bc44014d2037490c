// The Jinja interpreter for chat templates (text_encoders/common): every golden rendered by
// Python's jinja2 in transformers' environment (scripts/goldens/make_chat_template_goldens.py)
// reproduced byte for byte, plus unit tests of the pieces.
#include <gtest/gtest.h>

#include <cmath>
#include <ctime>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>

#include "common/chat_template.h"
#include "common/jinja_json.h"
#include "common/jinja_ops.h"
#include "common/jinja_template.h"
#include "common/jinja_unicode.h"
#include "common/jinja_value.h"
#include "test_paths.h"

namespace modelgrow::jinja {
namespace {

using Json = nlohmann::ordered_json;

const std::string kFixtures = MODELGROW_CHAT_TEMPLATE_FIXTURES;

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// The goldens, or an empty object when they cannot be read (GoldensLoad then fails).
const Json& Goldens() {
  static const Json* goldens = [] {
    try {
      return new Json(Json::parse(ReadText(kFixtures + "/goldens.json")));
    } catch (const std::exception&) {
      return new Json(Json::object());
    }
  }();
  return *goldens;
}

size_t CaseCount(const char* section) {
  const Json& g = Goldens();
  return g.contains(section) ? g[section].size() : 0;
}

// The time the golden script gives strftime_now: 2024-07-26 12:00:00.
std::tm FixedNow() {
  std::tm t{};
  t.tm_year = 2024 - 1900;
  t.tm_mon = 6;
  t.tm_mday = 26;
  t.tm_hour = 12;
  t.tm_wday = 5;
  t.tm_yday = 207;
  return t;
}

// Python reports spans in code points; the interpreter in UTF-8 bytes.
size_t CodePointOffset(const std::string& text, size_t byte_offset) {
  return unicode::CodePointCount(std::string_view(text).substr(0, byte_offset));
}

std::string TestName(const std::string& label, size_t index) {
  std::string out;
  for (char c : label) out.push_back(std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
  return out + "_" + std::to_string(index);
}

// The message the interpreter should give where jinja2 gave `message`. They agree word for word
// except where jinja2 passes on Python internals: compile errors carry Python's own
// "(<template>, line N)" (the interpreter has the position in the error) and a missing
// argument names the Python function's qualified name. (The loader error of include, import
// and extends is not compared: the interpreter rejects those when parsing.)
std::string ExpectedMessage(const std::string& message) {
  static const std::regex kPythonSuffix(R"( \(<template>, line \d+\)$)");
  std::string expected = std::regex_replace(message, kPythonSuffix, "");
  if (expected.find("raise_exception() missing 1 required positional argument") !=
      std::string::npos) {
    return "raise_exception() missing required argument 'message'";
  }
  return expected;
}

// What a golden says a failure looks like, checked against what the interpreter threw.
void ExpectSameError(const Json& error, const std::function<void()>& run) {
  const std::string type = error["type"];
  const std::string message = error["message"];
  try {
    run();
    ADD_FAILURE() << "jinja2 raised " << type << ": " << message << "\nbut the interpreter did not";
  } catch (const TemplateError& e) {
    if (error["raised"].get<bool>()) {
      EXPECT_EQ(e.kind(), ErrorKind::kRaised) << e.what();
      EXPECT_EQ(e.message(), message);
    } else {
      if (message != "no loader for this environment specified") {
        EXPECT_EQ(e.message(), ExpectedMessage(message)) << "jinja2 raised " << type;
      }
      EXPECT_NE(e.kind(), ErrorKind::kRaised) << e.what();
      // What jinja2 refuses when compiling, the interpreter refuses when parsing. The one
      // deliberate difference: include/import/extends parse in jinja2 and fail when rendered
      // (there is no loader); the interpreter rejects them when parsing.
      bool compile_time = type == "TemplateSyntaxError" || type == "TemplateAssertionError" ||
                          type == "SyntaxError" ||
                          message == "no loader for this environment specified";
      EXPECT_EQ(compile_time, e.kind() == ErrorKind::kSyntax)
          << "jinja2: " << type << ": " << message << "\ninterpreter: " << e.what();
    }
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(type, "ValueError") << e.what();
  }
}

TEST(JinjaGoldens, Load) {
  EXPECT_GT(CaseCount("chat_cases"), 200u) << "missing or short " << kFixtures << "/goldens.json";
  EXPECT_GT(CaseCount("feature_cases"), 300u);
}

class ChatTemplateGolden : public ::testing::TestWithParam<size_t> {};

TEST_P(ChatTemplateGolden, MatchesJinja2) {
  const Json& golden = Goldens();
  const Json& c = golden["chat_cases"][GetParam()];
  SCOPED_TRACE(c["name"].get<std::string>());
  static std::map<std::string, ChatTemplate>* templates = new std::map<std::string, ChatTemplate>;
  const std::string name = c["template"];
  if (!templates->count(name)) {
    const Json manifest = Json::parse(ReadText(kFixtures + "/templates.json"));
    templates->emplace(name, ChatTemplate(ReadText(kFixtures + "/" + name + ".jinja"),
                                          name + ".jinja", manifest[name]["special_tokens"]));
  }
  const ChatTemplate& chat_template = templates->at(name);
  ChatOptions options;
  options.add_generation_prompt = c["add_generation_prompt"];
  options.continue_final_message = c["continue_final_message"];
  if (!c["tools"].is_null()) options.tools = golden["tools"][c["tools"].get<std::string>()];
  options.extra = c["extra"];
  options.clock = FixedNow;
  const Json& messages = golden["conversations"][c["conversation"].get<std::string>()];
  if (c.contains("error")) {
    ExpectSameError(c["error"], [&] { chat_template.Apply(messages, options); });
    return;
  }
  RenderResult result = chat_template.ApplyWithGenerationSpans(messages, options);
  EXPECT_EQ(result.text, c["expected"].get<std::string>());
  if (c.contains("generation_spans")) {
    ASSERT_EQ(result.generation_spans.size(), c["generation_spans"].size());
    // transformers leaves spans past the end when continue_final_message cuts the text; the
    // interpreter clamps them to the text.
    const size_t length = unicode::CodePointCount(result.text);
    for (size_t i = 0; i < result.generation_spans.size(); ++i) {
      EXPECT_EQ(CodePointOffset(result.text, result.generation_spans[i].first),
                std::min(length, c["generation_spans"][i][0].get<size_t>()));
      EXPECT_EQ(CodePointOffset(result.text, result.generation_spans[i].second),
                std::min(length, c["generation_spans"][i][1].get<size_t>()));
    }
  } else {
    EXPECT_TRUE(result.generation_spans.empty());
  }
}

INSTANTIATE_TEST_SUITE_P(Goldens, ChatTemplateGolden,
                         ::testing::Range<size_t>(0, CaseCount("chat_cases")),
                         [](const ::testing::TestParamInfo<size_t>& info) {
                           return TestName(Goldens()["chat_cases"][info.param]["name"], info.param);
                         });

class FeatureGolden : public ::testing::TestWithParam<size_t> {};

TEST_P(FeatureGolden, MatchesJinja2) {
  const Json& golden = Goldens();
  const Json& c = golden["feature_cases"][GetParam()];
  const std::string text = c["template"];
  SCOPED_TRACE(text);
  LexerOptions lexer;
  lexer.trim_blocks = c["trim_blocks"];
  lexer.lstrip_blocks = c["lstrip_blocks"];
  RenderOptions render;
  render.clock = FixedNow;
  auto run = [&] {
    return JinjaTemplate::Parse(text, "probe", lexer).Render(golden["feature_context"], render);
  };
  if (c.contains("error")) {
    ExpectSameError(c["error"], [&] { run(); });
  } else {
    EXPECT_EQ(run(), c["expected"].get<std::string>());
  }
}

INSTANTIATE_TEST_SUITE_P(Goldens, FeatureGolden,
                         ::testing::Range<size_t>(0, CaseCount("feature_cases")),
                         [](const ::testing::TestParamInfo<size_t>& info) {
                           return "probe_" + std::to_string(info.param);
                         });

// --- helpers for the unit tests -------------------------------------------------------------

std::string Render(std::string_view text, const Json& context = Json::object(),
                   LexerOptions lexer = {}) {
  RenderOptions options;
  options.clock = FixedNow;
  return JinjaTemplate::Parse(text, "unit", lexer).Render(context, options);
}

TemplateError RenderError(std::string_view text, const Json& context = Json::object()) {
  try {
    Render(text, context);
  } catch (const TemplateError& e) {
    return e;
  }
  ADD_FAILURE() << "no error from " << text;
  return TemplateError(ErrorKind::kRender, "", 0, 0, "");
}

// --- value semantics ------------------------------------------------------------------------

TEST(JinjaValue, Truthiness) {
  EXPECT_FALSE(Truthy(Value()));
  EXPECT_FALSE(Truthy(Value::None()));
  EXPECT_FALSE(Truthy(Value::Int(0)));
  EXPECT_FALSE(Truthy(Value::Float(0.0)));
  EXPECT_FALSE(Truthy(Value::String("")));
  EXPECT_FALSE(Truthy(Value::List({})));
  EXPECT_FALSE(Truthy(Value::Dict(std::make_shared<DictData>())));
  EXPECT_TRUE(Truthy(Value::String(" ")));
  EXPECT_TRUE(Truthy(Value::Int(-1)));
  EXPECT_TRUE(Truthy(Value::Tuple({Value::None()})));
}

TEST(JinjaValue, FloatReprMatchesPython) {
  EXPECT_EQ(FloatRepr(1.0), "1.0");
  EXPECT_EQ(FloatRepr(0.1), "0.1");
  EXPECT_EQ(FloatRepr(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(FloatRepr(1e16), "1e+16");
  EXPECT_EQ(FloatRepr(1e15), "1000000000000000.0");
  EXPECT_EQ(FloatRepr(1e-5), "1e-05");
  EXPECT_EQ(FloatRepr(0.0001), "0.0001");
  EXPECT_EQ(FloatRepr(-2.5e-300), "-2.5e-300");
  EXPECT_EQ(FloatRepr(-0.0), "-0.0");
  EXPECT_EQ(FloatRepr(INFINITY), "inf");
  EXPECT_EQ(FloatRepr(NAN), "nan");
}

TEST(JinjaValue, StrAndReprOfContainers) {
  auto dict = std::make_shared<DictData>();
  dict->Set(Value::String("k"), Value::String("it's"));
  dict->Set(Value::Int(1), Value::Tuple({Value::Bool(true)}));
  Value list = Value::List(
      {Value::Int(1), Value::String("a\n"), Value::None(), Value::Dict(dict), Value::Float(2.0)});
  EXPECT_EQ(ToStr(list), "[1, 'a\\n', None, {'k': \"it's\", 1: (True,)}, 2.0]");
  EXPECT_EQ(ToStr(Value::String("plain")), "plain");
  EXPECT_EQ(ToStr(Value()), "");
  EXPECT_EQ(StringRepr("é\x01\u200b"), "'é\\x01\\u200b'");
}

TEST(JinjaValue, EqualityFollowsPython) {
  EXPECT_TRUE(Equals(Value::Int(1), Value::Float(1.0)));
  EXPECT_TRUE(Equals(Value::Bool(true), Value::Int(1)));
  EXPECT_FALSE(Equals(Value::Int(1), Value::String("1")));
  EXPECT_FALSE(Equals(Value::List({Value::Int(1)}), Value::Tuple({Value::Int(1)})));
  EXPECT_TRUE(Equals(Value(), Value()));
  EXPECT_FALSE(Equals(Value(), Value::None()));
}

TEST(JinjaValue, OrderingErrorsNameBothTypes) {
  EXPECT_TRUE(LessThan(Value::String("a"), Value::String("b")));
  EXPECT_TRUE(Compare(Value::List({Value::Int(1), Value::Int(2)}),
                      Value::List({Value::Int(1), Value::Int(3)}), OrderOp::kLt));
  try {
    Compare(Value::Int(1), Value::String("a"), OrderOp::kGe);
    FAIL();
  } catch (const EvalError& e) {
    EXPECT_STREQ(e.what(), "'>=' not supported between instances of 'int' and 'str'");
  }
  EXPECT_THROW(LessThan(Value::Undefined("'x' is undefined"), Value::Int(1)), EvalError);
}

TEST(JinjaOps, ArithmeticFollowsPython) {
  auto op = [](BinaryOp o, Value a, Value b) { return ToStr(BinaryOperation(o, a, b)); };
  EXPECT_EQ(op(BinaryOp::kFloorDiv, Value::Int(-7), Value::Int(2)), "-4");
  EXPECT_EQ(op(BinaryOp::kMod, Value::Int(-7), Value::Int(3)), "2");
  EXPECT_EQ(op(BinaryOp::kMod, Value::Int(7), Value::Int(-3)), "-2");
  EXPECT_EQ(op(BinaryOp::kDiv, Value::Int(7), Value::Int(2)), "3.5");
  EXPECT_EQ(op(BinaryOp::kFloorDiv, Value::Float(-7.5), Value::Int(2)), "-4.0");
  EXPECT_EQ(op(BinaryOp::kPow, Value::Int(2), Value::Int(-1)), "0.5");
  EXPECT_EQ(op(BinaryOp::kMul, Value::String("ab"), Value::Int(3)), "ababab");
  EXPECT_EQ(op(BinaryOp::kAdd, Value::Bool(true), Value::Bool(true)), "2");
  EXPECT_EQ(
      op(BinaryOp::kMod, Value::String("%s=%d"), Value::Tuple({Value::String("n"), Value::Int(5)})),
      "n=5");
  EXPECT_THROW(op(BinaryOp::kAdd, Value::String("a"), Value::Int(1)), EvalError);
  EXPECT_THROW(op(BinaryOp::kFloorDiv, Value::Int(1), Value::Int(0)), EvalError);
  EXPECT_THROW(op(BinaryOp::kMul, Value::Int(INT64_MAX), Value::Int(2)), EvalError);
}

TEST(JinjaOps, SlicingCountsCodePoints) {
  Value text = Value::String("h\u00e9llo\U0001F30D");
  EXPECT_EQ(Length(text), 6u);
  EXPECT_EQ(ToStr(Slice(text, Value::Int(1), Value::Int(3), Value::None())), "\u00e9l");
  EXPECT_EQ(ToStr(Slice(text, Value::None(), Value::None(), Value::Int(-2))), "\U0001F30Dl\u00e9");
  EXPECT_EQ(ToStr(GetItem(text, Value::Int(-1))), "\U0001F30D");
  Value list = Value::List({Value::Int(0), Value::Int(1), Value::Int(2), Value::Int(3)});
  EXPECT_EQ(ToStr(Slice(list, Value::Int(-3), Value::None(), Value::Int(2))), "[1, 3]");
  EXPECT_THROW(Slice(list, Value::None(), Value::None(), Value::Int(0)), EvalError);
}

TEST(JinjaOps, MissingItemsAreUndefinedWithJinjaMessages) {
  auto dict = std::make_shared<DictData>();
  dict->Set(Value::String("items"), Value::Int(1));
  Value d = Value::Dict(dict);
  // Item access prefers the key, attribute access the method, as in jinja2.
  EXPECT_EQ(ToStr(GetItem(d, Value::String("items"))), "1");
  EXPECT_TRUE(GetAttr(d, "items").is_function());
  EXPECT_EQ(GetAttr(d, "nope").AsUndefined().message, "'dict object' has no attribute 'nope'");
  EXPECT_EQ(GetItem(Value::List({}), Value::Int(0)).AsUndefined().message,
            "list object has no element 0");
  EXPECT_EQ(GetAttr(Value::None(), "x").AsUndefined().message, "'None' has no attribute 'x'");
  EXPECT_THROW(GetAttr(Value::Undefined("'m' is undefined"), "x"), EvalError);
}

TEST(JinjaJson, DumpsLikePython) {
  Value v = FromJson(Json::parse(R"({"b": [1, 2.5, "é\n"], "a": {}, "c": null})"));
  JsonDumpOptions options;
  EXPECT_EQ(DumpJson(v, options), "{\"b\": [1, 2.5, \"é\\n\"], \"a\": {}, \"c\": null}");
  options.ensure_ascii = true;
  options.indent = "  ";
  EXPECT_EQ(
      DumpJson(v, options),
      "{\n  \"b\": [\n    1,\n    2.5,\n    \"\\u00e9\\n\"\n  ],\n  \"a\": {},\n  \"c\": null\n}");
  JsonDumpOptions compact;
  compact.item_separator = ",";
  compact.key_separator = ":";
  compact.sort_keys = true;
  EXPECT_EQ(DumpJson(v, compact), "{\"a\":{},\"b\":[1,2.5,\"é\\n\"],\"c\":null}");
  EXPECT_THROW(DumpJson(Value::Undefined("u"), options), EvalError);
}

TEST(JinjaJson, OrderedJsonKeepsKeyOrderAndHugeIntegersAreRejected) {
  EXPECT_EQ(Render("{{ d|tojson }}", Json::parse(R"({"d": {"z": 1, "a": 2}})")),
            "{\"z\": 1, \"a\": 2}");
  EXPECT_EQ(Render("{{ d|tojson }}", Json{{"d", nlohmann::json::parse(R"({"z": 1, "a": 2})")}}),
            "{\"a\": 2, \"z\": 1}");
  EXPECT_THROW(FromJson(Json::parse("18446744073709551615")), std::invalid_argument);
}

// --- whitespace control ---------------------------------------------------------------------

TEST(JinjaWhitespace, TransformersSettingsTrimAndLstripBlocks) {
  EXPECT_EQ(Render("<ul>\n  {% for i in [1, 2] %}\n  <li>{{ i }}</li>\n  {% endfor %}\n</ul>\n"),
            "<ul>\n  <li>1</li>\n  <li>2</li>\n</ul>");
  EXPECT_EQ(Render("a  {{- ' b ' -}}  c"), "a b c");
  EXPECT_EQ(Render("x\n  {#- note -#}\n  y"), "xy");
  EXPECT_EQ(Render("  {%+ if true %}kept{% endif +%}\n!"), "  kept\n!");
  EXPECT_EQ(Render("one\r\ntwo\n\n"), "one\ntwo\n");
}

TEST(JinjaWhitespace, PlainJinjaDefaultsWhenSwitchedOff) {
  LexerOptions plain;
  plain.trim_blocks = false;
  plain.lstrip_blocks = false;
  EXPECT_EQ(Render("  {% if true %}\n  x\n  {% endif %}\n", Json::object(), plain), "  \n  x\n  ");
  LexerOptions keep;
  keep.keep_trailing_newline = true;
  EXPECT_EQ(Render("x\n", Json::object(), keep), "x\n");
}

// --- loops, scoping, namespaces, macros -----------------------------------------------------

TEST(JinjaLoop, LoopVariables) {
  EXPECT_EQ(Render("{% for x in 'abc' %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}"
                   "{{ loop.first|int }}{{ loop.last|int }}{{ loop.length }}"
                   "{{ loop.previtem|default('-') }}{{ loop.nextitem|default('-') }} {% endfor %}"),
            "103103-b 212003ac 321013b- ");
  EXPECT_EQ(Render("{% for x in [1, 2, 3, 4] if x is even %}{{ x }}/{{ loop.length }}"
                   "{{ loop.cycle('a', 'b') }} {% endfor %}"),
            "2/2a 4/2b ");
  EXPECT_EQ(Render("{% for x in [] %}no{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(Render("{% for k, v in {'a': 1, 'b': 2}|items %}{{ k }}{{ v }}{% endfor %}"), "a1b2");
  EXPECT_EQ(Render("{% for x in [1, 2, 3, 4] %}{% if x == 2 %}{% continue %}{% endif %}"
                   "{% if x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %}"),
            "13");
  EXPECT_EQ(
      Render("{% for x in [1, 1, 2] %}{% if loop.changed(x) %}{{ x }}{% endif %}{% endfor %}"),
      "12");
  EXPECT_EQ(Render("{% for n in [[1, [2]], 3] recursive %}{% if n is iterable %}({{ loop(n) }})"
                   "{% else %}{{ n }}@{{ loop.depth }}{% endif %}{% endfor %}"),
            "(1@2(2@3))3@1");
}

TEST(JinjaScope, LoopAssignmentsStayInTheLoopButNamespacesCarryOut) {
  EXPECT_EQ(
      Render("{% set x = 0 %}{% for i in [1, 2] %}{% set x = x + i %}{{ x }}{% endfor %}|{{ x }}"),
      "12|0");
  EXPECT_EQ(Render("{% set ns = namespace(total=0) %}{% for i in [1, 2, 3] %}"
                   "{% set ns.total = ns.total + i %}{% endfor %}{{ ns.total }}"),
            "6");
  EXPECT_EQ(Render("{% if true %}{% set y = 'if blocks share the scope' %}{% endif %}{{ y }}"),
            "if blocks share the scope");
  EXPECT_EQ(RenderError("{% set n = 1 %}{% set n.x = 2 %}").message(),
            "cannot assign attribute on non-namespace object");
}

TEST(JinjaMacro, ArgumentsDefaultsCallerAndExtraArguments) {
  EXPECT_EQ(Render("{% macro tag(name, body='') %}<{{ name }}>{{ body }}</{{ name }}>{% endmacro %}"
                   "{{ tag('b', 'x') }}{{ tag(body='y', name='i') }}{{ tag('p') }}"),
            "<b>x</b><i>y</i><p></p>");
  EXPECT_EQ(
      Render("{% macro wrap() %}[{{ caller() }}]{% endmacro %}{% call wrap() %}in{% endcall %}"),
      "[in]");
  EXPECT_EQ(Render("{% macro f() %}{{ varargs }}{{ kwargs }}{% endmacro %}{{ f(1, k=2) }}"),
            "(1,){'k': 2}");
  EXPECT_EQ(RenderError("{% macro f(a) %}{% endmacro %}{{ f(1, 2) }}").message(),
            "macro 'f' takes not more than 1 argument(s)");
}

// --- filters, tests, methods -----------------------------------------------------------------

TEST(JinjaFilters, CommonChatTemplateFilters) {
  Json context =
      Json::parse(R"({"tools": [{"name": "a", "on": true}, {"name": "b", "on": false}]})");
  EXPECT_EQ(
      Render("{{ '  x '|trim }}|{{ tools|length }}|{{ tools|map(attribute='name')|join(',') }}|"
             "{{ tools|selectattr('on')|map(attribute='name')|first }}|"
             "{{ tools|rejectattr('on')|list|count }}|{{ tools[0]|tojson }}|"
             "{{ tools[0]|tojson(indent=2) }}|{{ 'a b'|title }}{{ 'x'|upper }}",
             context),
      "x|2|a,b|a|1|{\"name\": \"a\", \"on\": true}|{\n  \"name\": \"a\",\n  \"on\": true\n}|A BX");
  EXPECT_EQ(
      Render("{{ [3, 1, 2]|sort|join }}{{ [1, 1, 2]|unique|list }}{{ 'ab'|reverse }}"
             "{{ '4'|int + 1 }}{{ 2.5|round }}{{ -3|abs }}{{ none|default('d') }}"
             "{{ [1, 2, 3, 4, 5]|batch(2)|list }}{{ 'a\nb'|indent(2) }}{{ 'x y z'|wordcount }}"),
      "123[1, 2]ba52.03None[[1, 2], [3, 4], [5]]a\n  b3");
  EXPECT_EQ(
      Render(
          "{{ {'b': 1, 'a': 2}|items|list }}{{ 'é'|tojson }}{{ 'é'|tojson(ensure_ascii=true) }}"),
      "[('b', 1), ('a', 2)]\"é\"\"\\u00e9\"");
}

TEST(JinjaTests, BuiltinTests) {
  EXPECT_EQ(
      Render("{{ x is defined }}{{ x is undefined }}{{ none is none }}{{ 'a' is string }}"
             "{{ {} is mapping }}{{ [] is iterable }}{{ 1 is number }}{{ 1 is integer }}"
             "{{ 1.5 is float }}{{ true is boolean }}{{ 3 is odd }}{{ 4 is even }}"
             "{{ 9 is divisibleby 3 }}{{ 'a' is eq 'a' }}{{ 'a' is in 'cat' }}{{ 1 is not none }}"),
      "FalseTrueTrueTrueTrueTrueTrueTrueTrueTrueTrueTrueTrueTrueTrueTrue");
}

TEST(JinjaMethods, StringAndDictMethods) {
  EXPECT_EQ(Render("{{ ' a '.strip() }}{{ 'a,b'.split(',') }}{{ 'abc'.startswith('ab') }}"
                   "{{ 'x.y'.endswith('.y') }}{{ 'aA'.upper() }}{{ 'aA'.lower() }}"
                   "{{ 'a-a'.replace('-', '+') }}{{ 'abc'.find('c') }}{{ '{}!'.format('hi') }}"
                   "{{ {'k': 1}.get('k') }}{{ {'k': 1}.get('z', 0) }}{{ {'k': 1}.items()|list }}"),
            "a['a', 'b']TrueTrueAAaaa+a2hi!10[('k', 1)]");
  EXPECT_EQ(RenderError("{{ [1].append(2) }}").message(),
            "access to attribute 'append' of 'list' object is unsafe.");
}

// --- errors ---------------------------------------------------------------------------------

TEST(JinjaErrors, SyntaxErrorsHavePositions) {
  try {
    JinjaTemplate::Parse("line one\n{% for x in xs %}\n  {{ x + }}\n{% endfor %}", "tpl.jinja");
    FAIL();
  } catch (const TemplateError& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kSyntax);
    EXPECT_EQ(e.line(), 3);
    EXPECT_EQ(e.column(), 10);
    EXPECT_EQ(std::string(e.what()), "tpl.jinja:3:10: unexpected 'end of print statement'");
  }
  try {
    JinjaTemplate::Parse("{% if x %}\nopen", "t");
    FAIL();
  } catch (const TemplateError& e) {
    EXPECT_EQ(e.message(),
              "Unexpected end of template. Jinja was looking for the following tags: 'elif' or "
              "'else' or 'endif'. The innermost block that needs to be closed is 'if'.");
  }
  EXPECT_THROW(JinjaTemplate::Parse("{{ x|no_such_filter }}", "t"), TemplateError);
  EXPECT_NO_THROW(JinjaTemplate::Parse("{% if false %}{{ x|no_such_filter }}{% endif %}", "t"));
  EXPECT_THROW(JinjaTemplate::Parse("{% include 'other.jinja' %}", "t"), TemplateError);
}

TEST(JinjaErrors, RenderErrorsPointAtTheFailingExpression) {
  TemplateError e = RenderError("{% for m in messages %}\n  {{ m.content + 1 }}{% endfor %}",
                                Json::parse(R"({"messages": [{"content": "hi"}]})"));
  EXPECT_EQ(e.kind(), ErrorKind::kRender);
  EXPECT_EQ(e.line(), 2);
  EXPECT_EQ(e.column(), 16);
  EXPECT_EQ(e.message(), "can only concatenate str (not \"int\") to str");
  EXPECT_EQ(RenderError("{{ missing.attr }}").message(), "'missing' is undefined");
  EXPECT_EQ(RenderError("{{ 1 / 0 }}").message(), "division by zero");
}

TEST(JinjaErrors, ColumnsCountCharactersNotBytes) {
  TemplateError e = RenderError("héllo wörld {{ 1 + 'x' }}");
  EXPECT_EQ(e.line(), 1);
  EXPECT_EQ(e.column(), 18);
}

TEST(JinjaErrors, UnsupportedJinjaFeaturesSaySo) {
  EXPECT_EQ(RenderError("{{ 'a b'|wordwrap(1) }}").message(),
            "the jinja2 filter 'wordwrap' is not supported by this interpreter");
  EXPECT_EQ(RenderError("{{ lipsum() }}").message(),
            "the jinja2 global 'lipsum' is not supported by this interpreter");
  try {
    JinjaTemplate::Parse("{% block body %}{% endblock %}", "t");
    FAIL();
  } catch (const TemplateError& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kSyntax);
    EXPECT_EQ(e.message(),
              "'block' is not supported: chat templates are rendered on their own, without "
              "template loading, inheritance or autoescaping");
  }
}

TEST(JinjaErrors, RaiseExceptionCarriesTheTemplatesMessage) {
  TemplateError e =
      RenderError("{% if messages|length == 0 %}\n{{ raise_exception('No messages!') }}{% endif %}",
                  Json::parse(R"({"messages": []})"));
  EXPECT_EQ(e.kind(), ErrorKind::kRaised);
  EXPECT_EQ(e.message(), "No messages!");
  EXPECT_EQ(e.line(), 2);
  EXPECT_THROW(Render("x", Json::array()), std::invalid_argument);
}

// --- chat templates -------------------------------------------------------------------------

TEST(ChatTemplate, FromTokenizerConfigReadsTokensAndNamedTemplates) {
  Json config = Json::parse(R"({
    "bos_token": {"content": "<s>", "lstrip": false, "__type": "AddedToken"},
    "eos_token": "</s>", "pad_token": null, "unk_token": "",
    "additional_special_tokens": ["<x>"],
    "chat_template": [
      {"name": "default", "template": "{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}{{ eos_token }}"},
      {"name": "tool_use", "template": "tools:{{ tools|length }}{{ additional_special_tokens[0] }}"}]
  })");
  ChatTemplate chat = ChatTemplate::FromTokenizerConfig(config, "tokenizer_config.json");
  EXPECT_EQ(chat.special_tokens().dump(),
            R"({"bos_token":"<s>","eos_token":"</s>","additional_special_tokens":["<x>"]})");
  Json messages = Json::parse(R"([{"role": "user", "content": "hi"}])");
  EXPECT_EQ(chat.Apply(messages), "<s>hi</s>");
  ChatOptions with_tools;
  with_tools.tools = Json::parse(R"([{"name": "t"}])");
  EXPECT_EQ(chat.Apply(messages, with_tools), "tools:1<x>");
  ChatOptions named;
  named.template_name = "missing";
  EXPECT_THROW(chat.Apply(messages, named), std::invalid_argument);
  EXPECT_THROW(ChatTemplate::FromTokenizerConfig(Json::object(), "cfg"), std::invalid_argument);
}

TEST(ChatTemplate, ContinueFinalMessageAndArgumentChecks) {
  ChatTemplate chat(
      "{% for m in messages %}<{{ m.role }}>{{ m.content | trim }}</{{ m.role }}>{% endfor %}",
      "inline");
  Json messages = Json::parse(
      R"([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hel  "}])");
  ChatOptions options;
  options.continue_final_message = true;
  EXPECT_EQ(chat.Apply(messages, options), "<user>Hi</user><assistant>Hel");
  options.add_generation_prompt = true;
  EXPECT_THROW(chat.Apply(messages, options), std::invalid_argument);
  EXPECT_THROW(chat.Apply(Json::object()), std::invalid_argument);
  ChatOptions reserved;
  reserved.extra = Json{{"messages", 1}};
  EXPECT_THROW(chat.Apply(messages, reserved), std::invalid_argument);
}

TEST(ChatTemplate, StrftimeNowAndGenerationSpans) {
  ChatTemplate chat(
      "{{ strftime_now('%d %b %Y') }}|{% for m in messages %}"
      "{% if m.role == 'assistant' %}{% generation %}{{ m.content }}{% endgeneration %}"
      "{% else %}{{ m.content }}{% endif %}{% endfor %}",
      "inline");
  Json messages =
      Json::parse(R"([{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A!"}])");
  ChatOptions options;
  options.clock = FixedNow;
  RenderResult result = chat.ApplyWithGenerationSpans(messages, options);
  EXPECT_EQ(result.text, "26 Jul 2024|QA!");
  ASSERT_EQ(result.generation_spans.size(), 1u);
  EXPECT_EQ(result.generation_spans[0], (std::pair<size_t, size_t>{13, 15}));
}

}  // namespace
}  // namespace modelgrow::jinja
