rockspec_format = "3.0"
package = "mobilellm"
version = "scm-1"
source = {
   url = "git+https://example.invalid/mobilellm.git",
}
description = {
   summary = "Run MobileLLM language models on the device, from Lua",
   detailed = [[
A Lua 5.4 extension module in C that loads MobileLLM / LLaMA-style checkpoints
(Hugging Face safetensors), tokenizes with sentencepiece, generates text and
parses the function calls the model writes.
]],
   license = "MIT",
}
dependencies = {
   "lua >= 5.4, < 5.5",
}
external_dependencies = {
   OPENBLAS = { header = "cblas.h", library = "openblas" },
   SENTENCEPIECE = { header = "sentencepiece_processor.h", library = "sentencepiece" },
   CJSON = { header = "cjson/cJSON.h", library = "cjson" },
}
build = {
   type = "make",
   makefile = "Makefile",
   build_target = "all",
   install_target = "install-rock",
   build_variables = {
      CFLAGS = "$(CFLAGS) -I$(LUA_INCDIR) -I$(OPENBLAS_INCDIR) -I$(CJSON_INCDIR)",
      CXXFLAGS = "-I$(SENTENCEPIECE_INCDIR)",
      LDFLAGS = "-L$(OPENBLAS_LIBDIR) -L$(SENTENCEPIECE_LIBDIR) -L$(CJSON_LIBDIR)",
   },
   install_variables = {
      INST_LIBDIR = "$(LIBDIR)",
      INST_LUADIR = "$(LUADIR)",
   },
}
