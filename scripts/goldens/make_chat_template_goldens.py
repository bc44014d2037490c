"""Renders the chat-template fixtures and a list of Jinja feature probes with Python's jinja2,
configured as transformers configures it for apply_chat_template, and writes the goldens the
C++ interpreter's tests compare against byte for byte:

    tests/fixtures/chat_templates/goldens.json

The environment mirrors transformers' utils/chat_template_utils.py (_compile_jinja_template and
render_jinja_template): ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
extensions=[<generation-block tracker>, jinja2.ext.loopcontrols]), its tojson filter (json.dumps
with ensure_ascii=False, no HTML escaping), raise_exception and strftime_now globals, and the
continue_final_message handling (a sentinel appended to the final message, the rendered text cut
where it lands). Special tokens come from templates.json, as tokenizer.special_tokens_map would
supply them. strftime_now sees a fixed time (2024-07-26 12:00) so the goldens are reproducible;
the C++ tests pin the same time.

Needs only Python 3 and jinja2 >= 3.1 (Debian: apt-get install -y python3-jinja2):

    python3 scripts/goldens/make_chat_template_goldens.py [--fixtures DIR]
"""
import argparse
import copy
import datetime
import json
import os
import platform

import jinja2
import jinja2.ext
import jinja2.nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_FIXTURES = os.path.join(HERE, "..", "..", "tests", "fixtures", "chat_templates")
FIXED_NOW = datetime.datetime(2024, 7, 26, 12, 0, 0)
CONTINUE_TAG = "CONTINUE_FINAL_MESSAGE_TAG "


class GenerationTracker(jinja2.ext.Extension):
    """transformers' AssistantTracker: {% generation %}...{% endgeneration %} renders its body
    and, while tracking, records the character span the body occupies in the output."""

    tags = {"generation"}

    def __init__(self, environment):
        super().__init__(environment)
        environment.extend(activate_tracker=self.activate)
        self.rendered_blocks = None
        self.spans = None

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_render"), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        text = caller()
        if self.rendered_blocks is not None:
            start = len("".join(self.rendered_blocks))
            self.spans.append([start, start + len(text)])
        return text

    def activate(self, rendered_blocks, spans):
        self.rendered_blocks = rendered_blocks
        self.spans = spans


def make_environment(trim_blocks=True, lstrip_blocks=True):
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    def strftime_now(format):
        return FIXED_NOW.strftime(format)

    env = ImmutableSandboxedEnvironment(trim_blocks=trim_blocks, lstrip_blocks=lstrip_blocks,
                                        extensions=[GenerationTracker, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def describe_error(error):
    # raise_exception raises the base TemplateError itself; every other failure is a subclass
    # (syntax, undefined, security) or a plain Python exception.
    return {"type": type(error).__name__, "message": str(error),
            "raised": type(error) is jinja2.exceptions.TemplateError}


def render_chat(env, template_text, special_tokens, messages, add_generation_prompt=False,
                continue_final_message=False, tools=None, documents=None, extra=None):
    """apply_chat_template(tokenize=False) with return_assistant_tokens_mask's span tracking."""
    if continue_final_message and add_generation_prompt:
        raise ValueError("continue_final_message and add_generation_prompt are not compatible.")
    chat = copy.deepcopy(messages)
    final_message = None
    if continue_final_message:
        final_message = chat[-1].get("content")
        if final_message is None:
            raise ValueError('continue_final_message is set but the final message has no "content" to continue!')
        if isinstance(final_message, (list, tuple)):
            for block in reversed(final_message):
                if "text" in block:
                    final_message = block["text"]
                    block["text"] = block["text"] + CONTINUE_TAG
                    break
            else:
                raise ValueError("continue_final_message is set but we could not find any text to continue in the final message!")
        else:
            chat[-1]["content"] = chat[-1]["content"] + CONTINUE_TAG
    kwargs = dict(special_tokens)
    kwargs.update(extra or {})
    template = env.from_string(template_text)
    blocks, spans = [], []
    env.activate_tracker(blocks, spans)
    try:
        for block in template.generate(messages=chat, tools=tools, documents=documents,
                                       add_generation_prompt=add_generation_prompt, **kwargs):
            blocks.append(block)
    finally:
        env.activate_tracker(None, None)
    rendered = "".join(blocks)
    if continue_final_message:
        if final_message.strip() not in rendered or CONTINUE_TAG.strip() not in rendered:
            raise ValueError("continue_final_message is set but the final message does not appear in the chat after applying the chat template!")
        at = rendered.rindex(CONTINUE_TAG.strip())
        if rendered[at:at + len(CONTINUE_TAG)] == CONTINUE_TAG:
            rendered = rendered[:at]
        else:
            rendered = rendered[:at].rstrip()
    return rendered, spans


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather at a location.",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "City and country, e.g. \"Paris, France\""},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "description": "The unit of temperature."},
            },
            "required": ["location"],
        },
        "return": {"type": "number", "description": "The temperature, as a float."},
    },
}
TIME_TOOL = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Get the time in a time zone. Answers in ISO 8601.",
        "parameters": {"type": "object", "properties": {"tz": {"type": "string", "description": "IANA zone"}},
                       "required": ["tz"]},
    },
}
TOOLS = {"weather": [WEATHER_TOOL], "weather_and_time": [WEATHER_TOOL, TIME_TOOL]}

SYSTEM = {"role": "system", "content": "You are a helpful assistant."}
UNICODE_TEXT = "Héllo — 你好 🌍 \"double\" 'single' back\\slash\n  indented line\n\ttab {{ not a tag }} {% nor this %}\t  "
TOOL_CALL = {"id": "call12345", "type": "function",
             "function": {"name": "get_current_weather", "arguments": {"location": "Paris, France", "unit": "celsius"}}}

CONVERSATIONS = {
    "user": [{"role": "user", "content": "Hello, how are you?"}],
    "system_user": [SYSTEM, {"role": "user", "content": "What is 2+2?"}],
    "multi_turn": [SYSTEM, {"role": "user", "content": "What is 2+2?"},
                   {"role": "assistant", "content": "2+2 is 4."}, {"role": "user", "content": "And 3+3?"}],
    "no_system_multi_turn": [{"role": "user", "content": "Hi!"}, {"role": "assistant", "content": "Hello! How can I help?"},
                             {"role": "user", "content": "Tell me a joke."}],
    "unicode": [{"role": "system", "content": "  Réponds en français, s'il te plaît.\n"},
                {"role": "user", "content": UNICODE_TEXT}],
    "assistant_last": [{"role": "user", "content": "Write a haiku about rain."},
                       {"role": "assistant", "content": "Soft rain on the roof  "}],
    "text_parts": [{"role": "user", "content": [{"type": "text", "text": "Describe"}, {"type": "text", "text": " this, please."}]}],
    "image_parts": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is in this image?"}]}],
    "tool_call_roundtrip": [
        {"role": "system", "content": "You are a weather bot."},
        {"role": "user", "content": "What's the weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [TOOL_CALL]},
        {"role": "tool", "tool_call_id": "call12345", "name": "get_current_weather", "content": "22.0"},
        {"role": "assistant", "content": "It is 22°C in Paris."},
        {"role": "user", "content": "Thanks!"}],
    "tool_call_string_arguments": [
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call67890", "type": "function",
             "function": {"name": "get_current_weather", "arguments": "{\"location\": \"Oslo, Norway\"}"}}]},
        {"role": "tool", "tool_call_id": "call67890", "name": "get_current_weather", "content": "{\"temperature\": -3.5}"}],
    "two_tool_calls": [
        {"role": "user", "content": "Weather in Paris and the time in Tokyo?"},
        {"role": "assistant", "content": "", "tool_calls": [
            TOOL_CALL,
            {"id": "call22222", "type": "function", "function": {"name": "get_time", "arguments": {"tz": "Asia/Tokyo"}}}]},
        {"role": "tool", "tool_call_id": "call12345", "content": "22.0"},
        {"role": "tool", "tool_call_id": "call22222", "content": "2024-07-26T19:00:00+09:00"}],
    "thinking_history": [
        {"role": "user", "content": "What is 17*3?"},
        {"role": "assistant", "content": "<think>\n17*3 = 51.\n</think>\n\n17*3 is 51."},
        {"role": "user", "content": "And 17*4?"}],
    "reasoning_content": [
        {"role": "user", "content": "Is 91 prime?"},
        {"role": "assistant", "reasoning_content": "91 = 7*13.", "content": "No, 91 = 7 × 13."},
        {"role": "user", "content": "Is 97 prime?"}],
    "roles_not_alternating": [{"role": "user", "content": "One"}, {"role": "user", "content": "Two"}],
    "system_only": [SYSTEM],
    "empty": [],
}

# (conversation, tools, extra, add_generation_prompt values, continue_final_message)
SCENARIOS = [
    ("user", None, None, (False, True), False),
    ("system_user", None, None, (True,), False),
    ("multi_turn", None, None, (False, True), False),
    ("no_system_multi_turn", None, None, (True,), False),
    ("unicode", None, None, (True,), False),
    ("assistant_last", None, None, (False,), False),
    ("assistant_last", None, None, (False,), True),
    ("text_parts", None, None, (True,), False),
    ("image_parts", None, None, (True,), False),
    ("system_user", "weather_and_time", None, (False, True), False),
    ("tool_call_roundtrip", "weather", None, (True,), False),
    ("tool_call_string_arguments", "weather", None, (True,), False),
    ("two_tool_calls", "weather_and_time", None, (True,), False),
    ("thinking_history", None, None, (True,), False),
    ("reasoning_content", None, None, (True,), False),
    ("roles_not_alternating", None, None, (True,), False),
    ("system_only", None, None, (True,), False),
    ("empty", None, None, (True,), False),
]

# Template variables particular templates read, each tried once more on top of the scenarios.
EXTRA_SCENARIOS = {
    "llama2": [("multi_turn", None, {"USE_DEFAULT_PROMPT": True}, (True,), False)],
    "llama3_1": [("system_user", None, {"date_string": "01 Jan 2025"}, (True,), False),
                 ("system_user", "weather", {"tools_in_user_message": False}, (True,), False),
                 ("system_user", None, {"builtin_tools": ["code_interpreter", "brave_search"]}, (True,), False)],
    "llama3_2_vision": [("system_user", None, {"date_string": "01 Jan 2025"}, (True,), False)],
    "qwen3": [("user", None, {"enable_thinking": False}, (True,), False),
              ("thinking_history", None, {"enable_thinking": False}, (True,), False),
              ("tool_call_roundtrip", "weather", {"enable_thinking": False}, (True,), False)],
    "smollm3": [("user", None, {"enable_thinking": False}, (True,), False),
                ("system_user", "weather", {"enable_thinking": False}, (True,), False)],
}

# Jinja feature probes: expressions, filters, tests, methods, whitespace control, scoping and
# errors. The first WHITESPACE_PROBES are about whitespace handling.
FEATURE_TEMPLATES = [
    '  {% if true %}\n    x\n  {% endif %}\n',
    'a  {% if true %}b{% endif %}  \n  {% if true %}\nc\n{% endif %}',
    '{% for i in range(3) %}\n  {{ i }}\n{% endfor %}\n',
    '{%- for i in range(3) -%}\n  {{ i }}\n{%- endfor %}\n\n',
    'x\n{#- comment -#}\ny\n  {# c #}\nz',
    '{%+ if true %}a{% endif +%}\nb',
    '  {%+ if true %}a{% endif %}\n  b',
    '\t{% if true %}\t\n{% endif %}',
    "{{ 'a' }}\n  {% if true %}b{% endif %}",
    'line1\r\nline2\r{% if true %}\r\nx{% endif %}\r\n',
    'trailing\n\n',
    'trailing\n',
    '{% raw %}\n  {% if %}\n{% endraw %}\n',
    '  {% raw %}x{% endraw %}  \n  {%- raw %} y {% endraw -%}  z',
    "{{- '  a  ' -}}  |  {{- 'b' }}",
    '  {% if true %}\n  x\n  {% endif %}\n  y\n',
    'a\n  {%- if true -%}\n b \n {%- endif -%}  \nc',
    '{# comment #}\n{#- c2 -#}  x {#+ c3 +#}\ny',
    '{% raw %}{{ x }}{% endraw %}|{%- raw -%}  {% a %}  {%- endraw -%}  |',
    '{% macro f() -%}\n  x\n{%- endmacro %}[{{ f() }}]',
    '{% set t %}\n  a  \n{% endset %}[{{ t }}]',
    '{%- for m in messages %}{{ m.role|upper }}: {{ m.content|trim }}\n{% endfor -%}',
    'hello',
    '{{ 1 + 2 }}',
    "{{ 'a' ~ 1 ~ none }}",
    '{% for i in [1,2,3] %}{{ loop.index }}{{ loop.first }}{{ loop.last }}|{% endfor %}',
    '{% set x = 0 %}{% for i in [1,2] %}{{ x }}{% set x = x + 1 %}{{ x }}|{% endfor %}{{ x }}',
    '{% for i in [1,2] %}{% if i == 2 %}{{ y }}{% endif %}{% set y = i %}{{y}}|{% endfor %}{{ y }}',
    '{% macro m() %}{{ x }}{% endmacro %}{% set x = 1 %}{{ m() }}{% set x = 2 %}{{ m() }}',
    '{{ [1,2].append(3) }}',
    '{{ x.y }}',
    '{{ "%s-%d" % ("a", 3) }}',
    '{{ 1e16 }} {{ 1e15 }} {{ 0.00001 }} {{ 1.5e300*1e10 }} {{ 10/4 }} {{ 7//2 }} {{ -7//2 }} {{ -7%3 }} {{ 2**10 }} {{ 2**-1 }}',
    '{{ none }} {{ true }} {{ [1,"a",none,{"k":"v\'"}] }}',
    '{% break %}',
    '{% for i in [] %}{% else %}{% set x = 1 %}{% endfor %}{{ x }}',
    '{% if true %}{% for i in [1] %}{{ i|nofilter }}{% endfor %}{% endif %}',
    '{% if false %}{{ i|nofilter }}{% endif %}ok',
    '{{ x if false }}|{{ (x if false) is defined }}',
    '{% set x %}a{% set y = 2 %}{{y}}{% endset %}{{ x }}{{ y }}',
    "{% macro m(a, b=a~'!') %}{{a}}{{b}}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1) }}|{{ m(1,2,3,z=4) }}",
    '{% macro m(a) %}{{a}}{% endmacro %}{{ m(1,2) }}',
    '{{ dict(a=1) }}|{{ namespace(a=1) }}',
    "{% set ns = namespace(a=1) %}{% set ns.b = 2 %}{{ ns.a }}{{ ns.b }}{{ ns.c }}|{{ ns['a'] }}",
    '{% with a = 1 %}{% set b = 2 %}{{ a }}{% endwith %}{{ a }}{{ b }}',
    "{{ '%5.2f|%-4d|%04d|%x|%s|%r' % (3.14159, 7, 42, 255, none, 'a') }}",
    "{{ '{:>6}|{:.3f}|{}|{!r}|{a}'.format('x', 2.5, [1], 'q', a=5) }}",
    '{{ x.y.z }}',
    '{{ none.y }}|{{ none.y is defined }}',
    "{{ 'abc'[1] }}{{ 'abc'[-1] }}{{ 'abc'[::-1] }}{{ [1,2,3][1:] }}{{ 'héllo'[1:3] }}",
    "{{ (1,2) == [1,2] }} {{ 1 == 1.0 }} {{ true == 1 }} {{ 'a' < 'b' }} {{ [1,2] < [1,3] }}",
    "{{ 1 < 'a' }}",
    '{{ 10 // 3 }} {{ -10 // 3 }} {{ 10 % -3 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }} {{ 2 ** 0.5 }}',
    '{{ loop }}',
    '{% for a, b in [[1,2],[3]] %}{{a}}{% endfor %}',
    "{{ {'a': {'b': 1}} }}",
    "{{ {'a': 1}|tojson }} {{ [1, 'é', none, true, 1.5]|tojson }} {{ 'é'|tojson(ensure_ascii=true) }}",
    "{{ {'a': [1, {'b': 2}], 'c': {}}|tojson(indent=2) }}",
    "{{ {'a': 1, 'b': 2}|tojson(separators=(',', ':')) }}",
    "{{ '  x  '|trim }}|{{ 'xxaxx'|trim('x') }}|{{ 'a b'|upper }}|{{ 'hello world-foo(bar'|title }}|{{ 'hELLO'|capitalize }}",
    "{{ [3,1,2]|sort }}{{ [3,1,2]|sort(reverse=true) }}{{ ['b','A','a']|sort }}{{ ['b','A','a']|sort(case_sensitive=true) }}",
    "{{ [1,2,2,3,1]|unique|list }}{{ ['a','A','b']|unique|list }}",
    "{{ [1,2,3]|join(', ') }}|{{ [1,2,3]|first }}{{ [1,2,3]|last }}|{{ []|first }}",
    "{{ 'abc'|list }}{{ {'a':1}|list }}{{ {'a':1,'b':2}|items|list }}{{ 'x'|length }}{{ [1]|count }}",
    "{{ '3'|int + 1 }}{{ '3.7'|int }}{{ 'x'|int }}{{ 'x'|int(5) }}{{ '2.5'|float }}{{ 3|float }}{{ 'ff'|int(base=16) }}",
    "{{ -3|abs }}{{ 2.567|round(2) }}{{ 2.5|round }}{{ 3.5|round }}{{ 2.4|round(method='ceil') }}{{ 3|round }}",
    "{{ [{'a':1},{'a':2},{'b':3}]|map(attribute='a')|list }}{{ [{'a':1},{'a':2}]|selectattr('a','equalto',2)|list }}{{ [{'a':1},{'b':2}]|rejectattr('a')|list }}",
    "{{ [1,2,3,4]|select('odd')|list }}{{ [1,2,3,4]|reject('even')|list }}{{ [0,1,'',2]|select|list }}{{ ['a','b']|map('upper')|list }}",
    '{{ [1,2,3,4,5]|batch(2)|list }}{{ [1,2,3,4,5]|batch(2, 0)|list }}{{ [1,2,3,4,5]|slice(2)|list }}',
    "{{ 'a\nb\n\nc'|indent }}|{{ 'a\nb'|indent(2, true) }}|{{ 'a\n\nb'|indent(blank=true) }}",
    "{{ 'one two  three'|wordcount }}{{ 'abc'|center(9) }}|{{ 'ab'|replace('b','c') }}{{ 'aaa'|replace('a','b',2) }}",
    "{{ x is defined }}{{ x is undefined }}{{ none is none }}{{ 1 is number }}{{ true is number }}{{ 1 is integer }}{{ 1.0 is float }}{{ 'a' is string }}{{ {} is mapping }}{{ [] is sequence }}{{ 'a' is iterable }}{{ 1 is iterable }}{{ x is iterable }}",
    "{{ 3 is odd }}{{ 4 is even }}{{ 9 is divisibleby 3 }}{{ 1 is eq 1 }}{{ 'a' is in 'abc' }}{{ true is true }}{{ 1 is true }}{{ range is callable }}{{ x is callable }}",
    "{{ 'a' is not none }}{{ not 1 is none }}{{ 1 not in [2] }}{{ 'a' ~ 'b' if true else 'c' }}",
    "{{ 'Hello World'.split() }}{{ 'a,b,,c'.split(',') }}{{ 'a b c'.split(' ', 1) }}{{ 'a,b'.rsplit(',', 1) }}",
    "{{ '  x '.strip() }}|{{ 'xy'.lstrip('x') }}|{{ 'abc'.startswith('a') }}{{ 'abc'.endswith(('c','d')) }}{{ 'abc'.find('c') }}{{ 'abc'.replace('b', 'B') }}",
    "{{ {'a':1}.items() }}{{ {'a':1}.keys()|list }}{{ {'a':1}.values()|list }}{{ {'a':1}.get('a') }}{{ {'a':1}.get('b') }}{{ {'a':1}.get('b', 5) }}",
    "{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }};{% endfor %}",
    '{% for x in [1,2,3,4] if x is odd %}{{ x }}{{ loop.index }}{{ loop.length }}{% endfor %}',
    '{% for x in [1,2,3] %}{% if x == 2 %}{% continue %}{% endif %}{{ x }}{% endfor %}|{% for x in [1,2,3] %}{% if x == 2 %}{% break %}{% endif %}{{ x }}{% endfor %}',
    "{% for x in [1,2,3] %}{{ loop.previtem }}-{{ loop.nextitem }}-{{ loop.revindex }}-{{ loop.cycle('a','b') }}|{% endfor %}",
    "{{ raise_exception('boom') }}",
    "{{ strftime_now('%Y-%m-%d %b') }}",
    '{{ range(5)|list }}{{ range(1, 10, 3)|list }}{{ range(5, 0, -2)|list }}',
    '{% set a, b = 1, 2 %}{{ a }}{{ b }}',
    '{{ (1, 2) }}{{ (1,) }}{{ () }}',
    '{% filter upper %}abc{% endfilter %}',
    '{% set x | upper %}abc{% endset %}{{ x }}',
    '{% macro m(x) %}[{{ caller(x) }}]{% endmacro %}{% call(y) m(5) %}got {{ y }}{% endcall %}',
    "{{ 'a' * 3 }}{{ [1] * 2 }}{{ 3 * 'b' }}",
    "{{ 'a' + 1 }}",
    '{{ 1 / 0 }}',
    "{{ [1,2,3][5] }}|{{ {'a':1}['b'] }}|{{ {'a':1}.b }}",
    "{{ 'x' if none else 'y' }}{{ none or 'z' }}{{ 0 and 1 }}{{ [] or [] }}",
    "{{ 'abc'|reverse }}{{ [1,2]|reverse|list }}",
    "{{ [1, 2, 3]|sum }}{{ [{'a':1},{'a':2}]|sum(attribute='a') }}{{ [3,1,2]|min }}{{ [3,1,2]|max }}{{ ['b','A']|max }}",
    "{{ {'b':1,'a':2}|dictsort }}{{ {'b':1,'a':2}|dictsort(by='value') }}",
    '{{ \'a&b<c>"d\\\'e\'|e }}{{ \'<p>x  <b>y</b></p>\'|striptags }}',
    "{{ 'hello world foo'|truncate(9) }}|{{ 'hello world foo'|truncate(9, true) }}|{{ 'hello'|truncate(20) }}",
    '{{ 1 < 2 < 3 }}{{ 3 > 2 > 2 }}{{ 1 == 1 != 2 }}',
    '{{ -2 ** 2 }}{{ (-2) ** 2 }}{{ 2 ** 3 ** 2 }}{{ -1|abs }}',
    '{{ \'a\' \'b\' }}{{ "x\\ty\\n" }}{{ \'\\u00e9\\x41\\101\' }}',
    '{{ 0x1f }}{{ 0o17 }}{{ 0b101 }}{{ 1_000 }}{{ 1.5e3 }}{{ 1E2 }}',
    "{{ [1,2,3][::2] }}{{ [1,2,3][-2:] }}{{ 'hello'[1:-1] }}{{ [1,2,3][::-1] }}{{ 'abc'[5:] }}",
    "{{ foo|default('d') }}{{ none|default('d') }}{{ none|default('d', true) }}{{ ''|d('e', true) }}",
    '{% set x = [1, 2, 3] %}{% for a in x %}{% for b in x %}{{ loop.index }}{{ loop.depth }}{% endfor %}|{% endfor %}',
    '{% for x in [[1,[2,[3]]]] recursive %}<{% for y in x %}{% if y is iterable %}{{ loop(y) }}{% else %}{{ y }}{{ loop.depth }}{% endif %}{% endfor %}>{% endfor %}',
    '{% for a in [1,2,1] %}{% if loop.changed(a) %}{{ a }}{% endif %}{% endfor %}',
    "{{ 'a %s b' % 'x' }}{{ '%d%%' % 50 }}{{ '%(a)s-%(b)d' % {'a': 'x', 'b': 2} }}{{ '%.3e' % 12345.678 }}{{ '%+d' % 5 }}{{ '% d' % 5 }}",
    "{{ '%s' % [1, 2] }}{{ '%s %s' % [1, 2] }}",
    "{{ '{0}-{1}-{0}'.format('a', 'b') }}{{ '{:,}'.format(1234567) }}{{ '{:08.3f}'.format(-3.14159) }}{{ '{:^7}'.format('ab') }}{{ '{:x}'.format(255) }}{{ '{:%}'.format(0.25) }}",
    "{{ '{}'.format(1.0) }}{{ '{:.2}'.format(1.0) }}{{ '{:g}'.format(1e20) }}{{ '{:e}'.format(0.0001234) }}{{ '{:10}|{:<5}|{:>5}'.format(3, 'x', 'y') }}",
    '{{ 1/3 }} {{ 2/3 }} {{ 0.1+0.2 }} {{ 1e-7 }} {{ 123456789012345678.0 }} {{ 1.0e15 }} {{ -0.0 }} {{ 3.0 }} {{ 100.0/3 }}',
    '{{ 9007199254740993 }} {{ 2**62 }} {{ -2**63 }}',
    '{{ 7 % 0 }}',
    '{{ 7.0 // 0 }}',
    "{{ 'abc' - 1 }}",
    '{{ none + 1 }}',
    '{{ [1] + (2,) }}',
    '{{ {} + {} }}',
    "{{ 'abc' * -1 }}|{{ [] * 3 }}|{{ 2 * 2.5 }}|{{ true + true }}|{{ 3 // 2.0 }}|{{ -3 % 5 }}|{{ 5 % -3.0 }}",
    '{{ x + 1 }}',
    "{{ x ~ 'a' }}",
    '{{ x | length }}',
    '{{ x[0] }}',
    '{{ x() }}',
    '{{ x|tojson }}',
    '{{ x|upper }}{{ x|trim }}{{ x|list }}{{ x|join }}',
    '{% for a in x %}{{ a }}{% else %}empty{% endfor %}',
    '{% for a in none %}{% endfor %}',
    '{% for a in 5 %}{% endfor %}',
    "{{ 'a' in x }}{{ x in [1] }}{{ x == x }}{{ x != 1 }}",
    "{{ 1 in 'abc' }}",
    '{{ 1 in none }}',
    '{{ y.z is defined }}',
    '{{ {}.a.b }}',
    "{{ {}.a is defined }}{{ {'a': none}.a is none }}",
    "{{ 'héllo'|length }}{{ 'héllo'[1] }}{{ 'héllo'|reverse }}{{ '日本語'|list }}{{ '🌍x'[0] }}{{ 'a🌍b'|length }}",
    "{{ ['b', 'a']|join }}{{ [1, 'a', none]|join('-') }}{{ [{'n': 'x'}, {'n': 'y'}]|join(',', attribute='n') }}",
    "{{ 'a\xa0b'.split() }}{{ ' \t\na  b\n'.split() }}{{ 'a\u2028b'.splitlines() }}{{ 'a\r\nb\rc\nd'.splitlines() }}{{ 'x\n'.splitlines(true) }}",
    "{{ '  x  '.strip(' x') }}|{{ 'abcabc'.rstrip('cb') }}|{{ 'abc'.center(6, '*') }}|{{ 'abc'.center(7) }}|{{ '42'.zfill(5) }}|{{ '-42'.zfill(5) }}",
    "{{ 'abc'.index('z') }}",
    "{{ 'a,b'.split('') }}",
    "{{ 'abc'.partition('b') }}{{ 'abc'.rpartition('x') }}",
    "{{ 'Hello'.startswith('he') }}{{ 'Hello'.startswith('He', 0, 2) }}{{ 'Hello'.endswith('lo', 3) }}{{ 'hello'.count('l') }}{{ 'hello'.rfind('l') }}",
    "{{ 'ab'.isalpha() }}{{ '12'.isdigit() }}{{ ' '.isspace() }}{{ 'ab'.islower() }}{{ 'AB1'.isupper() }}{{ ''.isalpha() }}{{ 'a1'.isalnum() }}",
    '{{ [1, 2, 3].index(2) }}{{ [1, 2, 2].count(2) }}{{ (1, 2).index(2) }}',
    '{{ [1].index(5) }}',
    "{{ {'a': 1}.pop('a') }}",
    "{{ {'a': 1}.update }}",
    '{{ [1].sort() }}',
    "{% set d = {'b': 1, 'a': 2} %}{% for k in d %}{{ k }}{% endfor %}{{ d|length }}{{ d.a }}{{ d['b'] }}",
    "{{ {1: 'a', 'x': 2}|tojson }}",
    "{{ {1: 'a'}[1] }}{{ {1: 'a'}[1.0] }}{{ {true: 'a'}[1] }}",
    "{{ {(1, 2): 'a'} }}",
    '{{ {[1]: 2} }}',
    "{{ [1, [2, 3], {'a': (4, 5)}]|tojson }}",
    "{{ 1.0|tojson }}{{ 1e100|tojson }}{{ (0.1 + 0.2)|tojson }}{{ 'a\x01b\x7f'|tojson }}{{ '\\u2028'|tojson }}{{ '𝄞'|tojson(ensure_ascii=true) }}",
    "{{ {'a': 1}|tojson(indent='\t') }}{{ [[]]|tojson(indent=2) }}{{ {'b': 1, 'a': {'d': 1, 'c': 2}}|tojson(sort_keys=true) }}",
    '{{ [1, 2]|tojson(indent=0) }}',
    "{{ {'a': [1, 2]}|tojson(indent=2, separators=(',', ' = ')) }}",
    '{{ namespace()|tojson }}',
    "{{ 5|string + 'a' }}{{ none|string }}{{ [1, 'a']|string }}{{ 1.5|int }}{{ true|int }}{{ ' 12 '|int }}{{ '1_000'|int }}{{ '0x1A'|int(base=16) }}{{ '0x1A'|int(base=0) }}{{ '12abc'|int }}",
    "{{ 'nan'|float }}{{ '-inf'|float }}{{ ' 1.5e3 '|float }}{{ 'abc'|float(1.5) }}{{ none|float }}{{ true|float }}{{ '1e400'|float }}",
    "{{ 2.675|round(2) }}{{ 0.5|round }}{{ 1.5|round }}{{ -0.5|round }}{{ 1234|round(-2) }}{{ 15|round(-1) }}{{ 1.23456|round(3, 'floor') }}{{ 'x'|round }}",
    "{{ 1|round(2, 'bogus') }}",
    "{{ [3, 1]|sort(attribute='x') }}",
    "{{ [{'a': 2, 'b': 1}, {'a': 1, 'b': 2}, {'a': 1, 'b': 1}]|sort(attribute='a,b') }}",
    "{{ [{'n': 'B'}, {'n': 'a'}]|sort(attribute='n')|map(attribute='n')|join }}{{ [{'n': 'B'}, {'n': 'a'}]|sort(attribute='n', reverse=true)|map(attribute='n')|join }}",
    "{{ [1, 'a']|sort }}",
    '{{ [[2, 1], [1, 2]]|sort }}{{ [(2, 1), (1, 2)]|sort }}{{ [none, none]|sort }}',
    "{{ [{'a': {'b': 1}}, {'a': {'b': 0}}]|map(attribute='a.b')|list }}{{ [[1, 2], [3, 4]]|map(attribute='1')|list }}{{ [{}, {'a': 1}]|map(attribute='a', default='z')|list }}",
    "{{ [1, 2]|map('string')|join('+') }}{{ ['a', 'b']|map('replace', 'a', 'x')|list }}{{ [' a ']|map('trim')|first }}",
    "{{ users|selectattr('active')|map(attribute='name')|list }}{{ users|rejectattr('active')|list|length }}{{ users|selectattr('age', 'gt', 20)|list|length }}{{ users|selectattr('age', '>=', 30)|map(attribute='name')|first }}",
    "{{ [1, 2, 3]|select('greaterthan', 1)|list }}{{ [1, 2, 3]|select('in', [1, 3])|list }}{{ ['a', 'B']|select('lower')|list }}{{ [none, 0]|reject('none')|list }}",
    "{{ [1, 2, 3]|select('nosuchtest')|list }}",
    "{{ [1]|map('nosuchfilter')|list }}",
    '{{ 1|nosuchfilter }}',
    "{{ users|groupby('active') }}",
    "{% for g in users|groupby('active') %}{{ g.grouper }}:{{ g.list|map(attribute='name')|join(',') }};{% endfor %}",
    "{% for k, v in users|groupby('age') %}{{ k }}{{ v|length }}{% endfor %}",
    "{{ 'a b'|wordcount }}{{ 'ab-cd e_f 12'|wordcount }}{{ ''|wordcount }}{{ 'héllo wörld'|wordcount }}",
    "{{ 'x'|center(4) }}|{{ 'xy'|center(5) }}|{{ 'x'|center(1) }}",
    "{{ 'a\nb'|indent(first=true) }}|{{ ''|indent }}|{{ '\n'|indent }}|{{ 'a\n'|indent }}|{{ 'a'|indent('-> ') }}|{{ 'a\nb'|indent('> ', blank=true, first=true) }}",
    "{{ 'a b c d e f'|truncate(5) }}|{{ 'abcdefghij'|truncate(5, leeway=0) }}|{{ 'abc'|truncate(2) }}",
    '{{ \'<b>x</b> &amp; y\'|striptags }}{{ \'<!-- c -->a\'|striptags }}{{ \'"x" & <y>\'|escape }}{{ 5|e }}{{ none|e }}',
    "{{ 'x'|safe }}{{ 5|safe }}{{ 'abc'|attr('upper')() }}{{ {'a': 1}|attr('a') }}{{ {'a': 1}|attr('items') is callable }}",
    "{{ [1, 2, 3, 4]|slice(3)|list }}{{ [1, 2, 3, 4]|slice(3, 0)|list }}{{ 'abcde'|batch(2)|list }}",
    "{{ [1, 2]|first }}{{ 'ab'|first }}{{ {'x': 1}|first }}{{ []|first is defined }}{{ {'x': 1, 'y': 2}|last }}{{ 'ab'|last }}",
    "{{ [3, 1, 2]|max(attribute='x') }}",
    "{{ users|max(attribute='age') }}{{ users|min(attribute='age') }}{{ ['a', 'B', 'c']|max }}{{ ['a', 'B', 'c']|max(case_sensitive=true) }}{{ []|max }}",
    "{{ [1, 2]|sum(start=10) }}{{ [0.1, 0.2]|sum }}{{ [[1], [2]]|sum(start=[]) }}{{ ['a']|sum }}",
    "{{ {'b': 2, 'A': 1, 'a': 3}|dictsort }}{{ {'b': 2, 'A': 1}|dictsort(true) }}{{ {'b': 2, 'a': 1}|dictsort(reverse=true) }}{{ {'a': 1}|dictsort(by='nope') }}",
    "{{ [1, 1.0, true, '1']|unique|list }}{{ [{'a': 1}, {'a': 1}]|unique(attribute='a')|list }}{{ [[1], [1]]|unique|list }}",
    "{{ 'abc'|replace('', '-') }}{{ 'aaa'|replace('a', 'b', 0) }}{{ 'abc'|replace('b', 1) }}",
    "{{ 0 is odd }}{{ -3 is odd }}{{ 2.0 is even }}{{ 'a' is even }}",
    '{{ 10 is divisibleby(3) }}{{ 10 is divisibleby 0 }}',
    "{{ 'abc' is lower }}{{ 'ABC' is upper }}{{ '1' is lower }}{{ none is sameas none }}{{ true is sameas true }}{{ [] is sameas [] }}{{ 'upper' is filter }}{{ 'odd' is test }}{{ 'nope' is filter }}",
    "{{ 1 is boolean }}{{ false is boolean }}{{ false is false }}{{ 0 is false }}{{ 1.5 is number }}{{ '1' is number }}{{ true is integer }}{{ 1 is float }}",
    "{{ {} is iterable }}{{ none is iterable }}{{ namespace() is iterable }}{{ {} is sequence }}{{ 1 is sequence }}{{ 'x' is sequence }}{{ none is mapping }}{{ namespace() is mapping }}{{ range(2) is sequence }}",
    '{{ loop is defined }}{% for i in [1] %}{{ loop is defined }}{{ loop is iterable }}{{ loop is callable }}{{ loop.length }}{% endfor %}',
    '{% for i in [1, 2] %}{{ loop }}{% endfor %}',
    '{% for i in [1] %}{{ loop.cycle() }}{% endfor %}',
    '{% for i in [1] %}{{ loop([1]) }}{% endfor %}',
    '{% for i in [1] %}{{ loop.foo }}{% endfor %}|{% for i in [1] %}{{ loop.previtem is defined }}{{ loop.nextitem is defined }}{% endfor %}',
    '{% set ns = namespace(items=[]) %}{% for i in [1, 2] %}{% set ns.items = ns.items + [i] %}{% endfor %}{{ ns.items }}{{ ns }}',
    "{% set ns = namespace({'a': 1}, b=2) %}{{ ns.a }}{{ ns.b }}{{ 'a' in ns }}",
    '{% set x = 1 %}{% set x.y = 2 %}',
    '{% set ns.y = 2 %}',
    "{% set d = dict(a=1, b=[1]) %}{{ d }}{{ dict({'x': 1}, y=2) }}{{ dict([('k', 'v')]) }}",
    '{{ range(100001)|length }}',
    '{{ range(1.5) }}',
    '{{ range(0, 10, 0) }}',
    '{{ range(3)|reverse|list }}{{ range(-3)|list }}{{ range(2, -3, -1)|list }}',
    "{{ raise_exception('Bad: ' ~ 42) }}",
    "{% if true %}\n  {{ raise_exception('line2') }}{% endif %}",
    '{{ raise_exception() }}',
    '{% macro f(a, b, c=3) %}{{ a }}{{ b }}{{ c }}{% endmacro %}{{ f(1, c=5, b=2) }}{{ f() }}{{ f(1, b=2, d=4) }}',
    '{% macro f(a) %}{{ a }}{% endmacro %}{{ f(a=1, a=2) }}',
    '{% macro f(a) %}{{ a }}{% endmacro %}{{ f(1, a=2) }}',
    '{% macro f() %}{{ kwargs }}{{ varargs }}{% endmacro %}{{ f(1, 2, x=3) }}',
    '{% macro f(x) %}{{ x }}{{ f(x - 1) if x > 0 }}{% endmacro %}{{ f(3) }}',
    '{% macro outer() %}{% macro inner() %}in{% endmacro %}{{ inner() }}{% endmacro %}{{ outer() }}{{ inner is defined }}',
    '{% macro f() %}{{ caller() }}{% endmacro %}{{ f() }}',
    '{% macro f() %}{{ caller is defined }}{% endmacro %}{{ f() }}',
    '{% macro f(a) %}{% set a = a + 1 %}{{ a }}{% endmacro %}{% set a = 10 %}{{ f(1) }}{{ a }}',
    '{% macro f() %}x{% endmacro %}{{ f }}|{{ f is callable }}{{ f() ~ f() }}',
    '{% for x in [1, 2, 3] %}{% set ns = 5 %}{% endfor %}{{ ns }}',
    '{% if true %}{% set z = 3 %}{% endif %}{{ z }}',
    '{% with %}{% set q = 1 %}{% endwith %}{{ q }}',
    '{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}',
    '{% filter trim|upper %}  abc  {% endfilter %}',
    '{% set t | trim %}  b  {% endset %}[{{ t }}]',
    "{% print 'a', 1 %}",
    '{% for i in [1, 2] %}{% print i %}{% endfor %}',
    "{{ 'a' if 1 > 2 else 'b' if 2 > 3 else 'c' }}",
    '{{ (1 if false) + 1 }}',
    "{{ not 1 == 2 }}{{ not (1 and 0) }}{{ - 3 }}{{ +3 }}{{ -(1) }}{{ -'a' }}",
    "{{ 1 if 'a' in 'abc' and not false or none }}",
    "{{ 1 and 2 or 3 }}{{ 0 or none }}{{ '' and 1 }}",
    "{{ [1, 2, 3][1:2] }}{{ [1, 2, 3][:] }}{{ 'abcdef'[1:5:2] }}{{ 'abcdef'[-1:0:-2] }}{{ [1, 2][3:1] }}{{ 'abc'[::0] }}",
    '{{ [1][1.5] }}',
    "{{ 'abc'[1:'x'] }}",
    "{{ [1,2,3,][0] }}{{ {'a': 1,}['a'] }}{{ f(1,) if false }}{{ (1, 2,) }}",
    '{{ a.0 }}{{ a.1.x }}',
    '{{ a[0].x }}',
    "{{ a | first | attr('x') }}",
    "{{ 'a' ~ 1 + 2 }}",
    '{{ 1 + 2 ~ 3 }}',
    '{{ 2 * 3 ** 2 }}{{ (2 * 3) ** 2 }}{{ 10 - 2 - 3 }}{{ 2 ** -1 ** 2 }}',
    "{{ 'a' | upper ~ 'b' | upper }}{{ -1 | abs }}{{ - [1] | length }}",
    '{{ 1 | string ~ 2 }}',
    "{{ [1, 2] | join(', ') | upper }}{{ 'abc' | replace('a', 'x') | upper | list }}",
    '{{ x is defined and x }}{{ x is not defined or x }}',
    '{{ none is not none }}{{ 1 is not string }}',
    '{{ 1 is eq 1 }}{{ 1 is ne 2 }}{{ 2 is gt 1 }}{{ 2 is ge 2 }}{{ 1 is lt 2 }}{{ 1 is le 0 }}{{ 1 is equalto 1 }}{{ 1 is sameas 1 }}',
    "{{ 'a' is in ['a'] }}{{ 'a' is in {'a': 1} }}{{ 1 is in [1.0] }}",
    '{{ x is defined is defined }}',
    '{{ foo(}}',
    '{% if %}',
    '{% endif %}',
    '{% for x in %}{% endfor %}',
    '{% for x in y %}',
    '{% if x %}{% for y in z %}{% endif %}{% endfor %}',
    '{{ 1 + }}',
    '{{ }}',
    '{% set %}',
    '{% set 1 = 2 %}',
    '{% set true = 2 %}',
    '{{ x..y }}',
    "{{ 'unterminated }}",
    '{# open comment',
    '{% raw %} never ends',
    '{{ 1 @ 2 }}',
    '{{ (1 }}',
    '{{ [1) }}',
    '{% foo %}',
    '{% endfor %}',
    '{% macro m(a=1, b) %}{% endmacro %}',
    "{% include 'x' %}",
    "{% extends 'base' %}",
    "{% import 'x' as y %}",
    '{% continue %}',
    '{% for x in [1] %}{% macro m() %}{% break %}{% endmacro %}{% endfor %}',
    '{{ x|nosuch }}',
    '{% if x %}{{ x|nosuch }}{% endif %}ok',
    '{{ x|nosuch if false else 1 }}',
    '{{ (x|nosuch) if false else 1 }}',
    '{{ 1 if x is nosuchtest else 2 }}',
    '{{ x is nosuchtest }}',
    '{% for x in [1, 2] %}{{ x }}{% if loop.last %}.{% else %},{% endif %}{% endfor %}',
    "{{ messages[0]['content'] }}{{ messages[-1].role }}{{ messages|length }}{{ messages[5] }}{{ messages[5] is defined }}",
    "{{ messages|selectattr('role', 'equalto', 'user')|list|length }}{{ messages|map(attribute='role')|join(',') }}",
    "{{ messages[0].content.split('\\n')[0] }}",
    "{{ 1 == 1 == 1 }}{{ 2 > 1 < 3 }}{{ 'b' > 'a' }}{{ [2] > [1, 5] }}{{ (1, 2) < (1, 2, 3) }}{{ none == none }}{{ none != false }}",
    '{{ none < 1 }}',
    '{{ [1] < (1,) }}',
    '{{ {} < {} }}',
    "{{ 'a' >= 1 }}",
    '{{ x < 1 }}',
    "{{ 1.0 == 1 }}{{ 0.1 + 0.2 == 0.3 }}{{ 1 == '1' }}{{ [1, 2] == [1, 2] }}{{ {'a': 1} == {'a': 1.0} }}{{ (1,) == (1.0,) }}",
    "{{ '%5s|%-5s|%.2s|%c|%c' % ('ab', 'ab', 'abc', 65, 'z') }}{{ '%x %X %o %#x %#o' % (255, 255, 8, 255, 8) }}{{ '%5.1f%%' % 99.55 }}{{ '%e' % 0 }}{{ '%g' % 1e-5 }}",
    "{{ '%d' % 3.9 }}{{ '%i' % -3.9 }}{{ '%s' % none }}{{ '%r' % 'it\\'s' }}{{ '%s' % (1,) }}",
    "{{ '%d' % 'a' }}",
    "{{ '%s %s' % ('a',) }}",
    "{{ '%s' % ('a', 'b') }}",
    "{{ 'x' % 1 }}",
    "{{ '%(a)s' % {'b': 1} }}",
    "{{ '{} {}'.format(1) }}",
    "{{ '{a}'.format(b=1) }}",
    "{{ '{0.x}'.format({'x': 5}) }}{{ '{0[x]}'.format({'x': 6}) }}{{ '{0[1]}'.format([7, 8]) }}",
    "{{ '{:d}'.format(1.5) }}",
    "{{ '{:s}'.format(1) }}",
    "{{ '{}'.format(none) }}{{ '{!r}'.format(none) }}{{ '{:>5}'.format(none) }}",
    "{{ 'héllo wörld'|upper }}{{ 'ÀÉÎ'|lower }}{{ 'straße'|upper }}{{ 'привет мир'|title }}{{ 'Γειά'|upper }}",
    "{{ ['é', 'e', 'z', 'E']|sort }}{{ 'élan vital'.title() }}{{ 'ÉLAN'.lower() }}",
    "{{ 'abc'['x'] }}{{ 'abc'.x }}{{ [1].foo }}",
]

# Context for the feature probes.
FEATURE_CONTEXT = {
    "users": [{"name": "ann", "active": True, "age": 30}, {"name": "bob", "active": False, "age": 20},
              {"name": "cy", "active": True, "age": 30}],
    "a": [{"x": 1}, {"x": 2}],
    "messages": [{"role": "system", "content": "Sys\nline2"}, {"role": "user", "content": "  Hi  "},
                 {"role": "assistant", "content": "Yo"}],
}

# The whitespace probes are also rendered with trim_blocks / lstrip_blocks switched off, since
# the lexer implements each switch separately.
WHITESPACE_PROBES = 22


def render_feature(template, trim_blocks, lstrip_blocks):
    case = {"template": template, "trim_blocks": trim_blocks, "lstrip_blocks": lstrip_blocks}
    try:
        env = make_environment(trim_blocks, lstrip_blocks)
        case["expected"] = env.from_string(template).render(**FEATURE_CONTEXT)
    except Exception as error:  # every failure is a golden too: the C++ side must fail as well
        case["error"] = describe_error(error)
    return case


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fixtures", default=DEFAULT_FIXTURES)
    args = parser.parse_args()
    with open(os.path.join(args.fixtures, "templates.json"), encoding="utf-8") as f:
        manifest = json.load(f)

    chat_cases = []
    for name in sorted(manifest):
        with open(os.path.join(args.fixtures, name + ".jinja"), encoding="utf-8", newline="") as f:
            text = f.read()
        tokens = manifest[name]["special_tokens"]
        for conversation, tools, extra, generation_prompts, continue_final in SCENARIOS + EXTRA_SCENARIOS.get(name, []):
            for add_generation_prompt in generation_prompts:
                label = [name, conversation]
                if tools:
                    label.append("tools=" + tools)
                for key, value in (extra or {}).items():
                    label.append(f"{key}={json.dumps(value)}")
                label.append("agp" if add_generation_prompt else "no_agp")
                if continue_final:
                    label.append("continue_final")
                case = {"name": "/".join(label), "template": name, "conversation": conversation,
                        "tools": tools, "extra": extra or {}, "add_generation_prompt": add_generation_prompt,
                        "continue_final_message": continue_final}
                env = make_environment()
                try:
                    rendered, spans = render_chat(env, text, tokens, CONVERSATIONS[conversation],
                                                  add_generation_prompt, continue_final,
                                                  TOOLS[tools] if tools else None, None, extra)
                    case["expected"] = rendered
                    if spans:
                        case["generation_spans"] = spans
                except ValueError as error:
                    case["error"] = {"type": "ValueError", "message": str(error), "raised": False}
                except Exception as error:
                    case["error"] = describe_error(error)
                chat_cases.append(case)

    feature_cases = []
    for i, template in enumerate(FEATURE_TEMPLATES):
        feature_cases.append(render_feature(template, True, True))
        if i < WHITESPACE_PROBES:
            for trim, lstrip in ((False, False), (True, False), (False, True)):
                feature_cases.append(render_feature(template, trim, lstrip))

    goldens = {
        "generated_by": "scripts/goldens/make_chat_template_goldens.py",
        "jinja2_version": jinja2.__version__,
        "python_version": platform.python_version(),
        "strftime_now_time": FIXED_NOW.isoformat(),
        "tools": TOOLS,
        "conversations": CONVERSATIONS,
        "feature_context": FEATURE_CONTEXT,
        "chat_cases": chat_cases,
        "feature_cases": feature_cases,
    }
    out_path = os.path.join(args.fixtures, "goldens.json")
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(goldens, f, indent=1, ensure_ascii=False)
        f.write("\n")
    errors = sum("error" in c for c in chat_cases)
    print(f"{out_path}: {len(chat_cases)} chat cases ({errors} errors), {len(feature_cases)} feature cases")


if __name__ == "__main__":
    main()
