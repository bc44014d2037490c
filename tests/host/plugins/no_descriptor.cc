// A shared library that is not a ModelGrow plugin.
extern "C" int some_other_library_function() { return 42; }
