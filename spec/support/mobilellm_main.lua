-- The `mobilellm` command line as bin/mobilellm runs it, but with the modules of the environment's
-- LUA_PATH and LUA_CPATH (bin/mobilellm puts the checkout's build/ first): specs that start the
-- CLI as a process of its own run the module under test, make test-asan's instrumented one.
os.exit(require("mobilellm.cli").main(arg), true)
