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
parses the function calls the model writes; with the `mobilellm` command line
(info, run, chat, agent, convert, bench, eval, list) and the shipped models, which
`mobilellm agent mobilellm-tiny-api` and `require("mobilellm").load("mobilellm-tiny-api")`
find by name.
]],
   license = "MIT",
}
dependencies = {
   "lua >= 5.4, < 5.5",
}
-- Libraries only: Debian keeps cblas.h under a multiarch include directory
-- that the compiler searches by itself but LuaRocks' header check does not.
external_dependencies = {
   OPENBLAS = { library = "openblas" },
   SENTENCEPIECE = { library = "sentencepiece" },
   CJSON = { library = "cjson" },
   XXHASH = { library = "xxhash" },
   PCRE2 = { library = "pcre2-8" },
   EDIT = { library = "edit" },  -- libedit: the line editor of chat and agent (mobilellm.lineedit)
}
build = {
   type = "make",
   makefile = "Makefile",
   build_target = "all",
   install_target = "install-rock",
   build_variables = {
      CFLAGS = "$(CFLAGS) -I$(LUA_INCDIR)",
      LDFLAGS = "-L$(OPENBLAS_LIBDIR) -L$(SENTENCEPIECE_LIBDIR) -L$(CJSON_LIBDIR) -L$(XXHASH_LIBDIR)" ..
         " -L$(PCRE2_LIBDIR) -L$(EDIT_LIBDIR)",
   },
   install_variables = {
      INST_LIBDIR = "$(LIBDIR)",
      INST_LUADIR = "$(LUADIR)",
      INST_BINDIR = "$(BINDIR)",   -- bin/mobilellm; LuaRocks wraps it with the tree's paths
      -- the models stay in the rock's own directory, which mobilellm/site.lua names
      INST_DATADIR = "$(PREFIX)/share/mobilellm",
   },
}
