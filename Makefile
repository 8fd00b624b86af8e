# mobilellm — build, test and demo. `make demo` and `make test` install any
# missing Debian packages first (as root), so a fresh Debian 12 needs nothing else.

SHELL      := /bin/bash
LUA        ?= lua5.4
BUSTED     ?= $(LUA) /usr/bin/busted
CC         ?= gcc
CXX        ?= g++
PKGS       := lua5.4 liblua5.4-dev libopenblas-dev libsentencepiece-dev libcjson-dev lua-busted pkg-config \
              tmux libxxhash-dev luarocks libpcre2-dev libedit-dev lua-luv curl
OPT        ?= -O2
CFLAGS_ALL := -std=c11 $(OPT) -g -fPIC -fvisibility=hidden -Wall -Wextra -Wshadow -Wno-unused-parameter \
              -Iinclude -Isrc $(shell pkg-config --cflags lua5.4 2>/dev/null) $(CFLAGS)
CXXFLAGS_ALL := -std=c++17 $(OPT) -g -fPIC -fvisibility=hidden -Wall -Wextra -Iinclude -Isrc $(CXXFLAGS)
LIBS       := -lopenblas -lsentencepiece -lcjson -lxxhash -lpcre2-8 -lstdc++ -lm -lpthread

BUILD      := build
MODULE     := $(BUILD)/mobilellm/core.so
CLIB       := $(BUILD)/libmobilellm.so
# src/ by layer, each using only those before it (spec/87): base (status, files, memory,
# threads), kernels, formats (files of weights), text (tokenizer, UTF-8), core
# (config, model, session, forward, generate, sampler), calls (parser,
# constraints), lua (the binding).
LAYERS     := base kernels text formats core calls
CORE_SRC   := $(foreach d,$(LAYERS),$(wildcard src/$(d)/*.c))
# src/lua/lineedit.c is a module of its own (mobilellm.lineedit, on libedit): core.so does not need libedit
LUA_SRC    := $(filter-out src/lua/lineedit.c,$(wildcard src/lua/*.c))
LINEEDIT   := $(BUILD)/mobilellm/lineedit.so
PTYDRIVE   := $(BUILD)/ptydrive
CXX_SRC    := src/text/tokenizer_sp.cpp
CORE_OBJ   := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(CORE_SRC)) $(BUILD)/obj/text/tokenizer_sp.o
LUA_OBJ    := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(LUA_SRC))
HEADERS    := $(wildcard include/*.h src/*/*.h)
CTESTS     := $(patsubst spec/c/%.c,$(BUILD)/ctest/%,$(wildcard spec/c/test_*.c))

export LUA_PATH  := $(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;$(CURDIR)/spec/?.lua;;
export LUA_CPATH := $(CURDIR)/$(BUILD)/?.so;;

.PHONY: all deps test ctest demo clean install install-rock bench test-neon lint docs dataset

PREFIX     ?= /usr/local
INST_LIBDIR ?= $(PREFIX)/lib/lua/5.4
INST_LUADIR ?= $(PREFIX)/share/lua/5.4
INST_BINDIR ?= $(PREFIX)/bin
INST_DATADIR ?= $(PREFIX)/share/mobilellm

all: $(MODULE) $(CLIB) $(LINEEDIT)

# Makefile: a change of flags (visibility, sanitizers) rebuilds what an old checkout built
$(BUILD)/obj/%.o: src/%.c $(HEADERS) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/obj/text/tokenizer_sp.o: $(CXX_SRC) $(HEADERS) Makefile
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS_ALL) -c $< -o $@

# The Lua module exports luaopen_mobilellm_core alone (src/lua/module.map); the C
# library, for hosts without Lua, exactly the MLLM_API functions of include/.
$(MODULE): $(CORE_OBJ) $(LUA_OBJ) src/lua/module.map
	@mkdir -p $(dir $@)
	$(CC) -shared $(LDFLAGS) -Wl,--version-script=src/lua/module.map -o $@ $(CORE_OBJ) $(LUA_OBJ) $(LIBS)

# The prompt's line editor: exports luaopen_mobilellm_lineedit alone (the rest is hidden)
$(LINEEDIT): src/lua/lineedit.c include/mobilellm_limits.h Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -shared $(LDFLAGS) $< -o $@ -ledit

# The pseudo-terminal driver of spec/95 (forkpty)
$(PTYDRIVE): spec/support/ptydrive.c Makefile
	@mkdir -p $(dir $@)
	$(CC) -std=c11 $(OPT) -g -Wall -Wextra -Wshadow $(CFLAGS) $< -o $@ -lutil

$(CLIB): $(CORE_OBJ) src/libmobilellm.map
	@mkdir -p $(dir $@)
	$(CC) -shared $(LDFLAGS) -Wl,-soname,libmobilellm.so -Wl,--version-script=src/libmobilellm.map -o $@ \
	  $(CORE_OBJ) $(LIBS)

$(BUILD)/ctest/%: spec/c/%.c $(wildcard spec/c/*.h) $(CORE_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $< $(CORE_OBJ) -o $@ $(LIBS)

# spec/c/test_oom.c walks allocation failures (base/alloc.h): it links the core built again
# with the fault-injection seam on, in $(BUILD)/fault/, which nothing else uses.
FAULT_OBJ  := $(patsubst src/%.c,$(BUILD)/fault/obj/%.o,$(CORE_SRC)) $(BUILD)/fault/obj/text/tokenizer_sp.o
$(BUILD)/fault/obj/%.o: src/%.c $(HEADERS) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -DMLLM_FAULT_INJECTION -c $< -o $@

$(BUILD)/fault/obj/text/tokenizer_sp.o: $(CXX_SRC) $(HEADERS) Makefile
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS_ALL) -DMLLM_FAULT_INJECTION -c $< -o $@

$(BUILD)/ctest/test_oom: spec/c/test_oom.c $(wildcard spec/c/*.h) $(FAULT_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -DMLLM_FAULT_INJECTION $< $(FAULT_OBJ) -o $@ $(LIBS)

# Installs only the Debian packages that are missing.
deps:
	@missing=""; for p in $(PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "run as root (or install:$$missing)"; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

ctest: $(CTESTS)
	@for t in $(CTESTS); do echo "== $$t"; $$t || exit 1; done

# Busted's summary becomes the plain "N passed, N failed" line CI counts.
test: deps
	@$(MAKE) --no-print-directory all ctest $(PTYDRIVE)
	@set -o pipefail; $(BUSTED) --output=utfTerminal spec 2>&1 | tee $(BUILD)/busted.log; \
	status=$$?; \
	summary=$$(grep -aE '[0-9]+ success' $(BUILD)/busted.log | tail -n 1 | sed 's/\x1b\[[0-9;]*m//g'); \
	ok=$$(echo "$$summary" | sed -nE 's/.*\b([0-9]+) success.*/\1/p'); \
	ko=$$(echo "$$summary" | sed -nE 's/.*\b([0-9]+) failure.*/\1/p'); \
	er=$$(echo "$$summary" | sed -nE 's/.*\b([0-9]+) error.*/\1/p'); \
	pe=$$(echo "$$summary" | sed -nE 's/.*\b([0-9]+) pending.*/\1/p'); \
	if [ "$${pe:-0}" -gt 0 ]; then \
	  echo "$$pe pending: a spec that turns itself pending hides a missing piece, so it counts as failed"; \
	  status=1; fi; \
	echo "$${ok:-0} passed, $$(( $${ko:-0} + $${er:-0} + $${pe:-0} )) failed"; \
	exit $$status

demo: deps
	@$(MAKE) --no-print-directory all
	$(LUA) examples/demo.lua

# The NEON kernels, cross-compiled for AArch64 and compared with their scalar
# twins under qemu-user (installs the cross compiler and qemu when missing).
NEON_PKGS := gcc-aarch64-linux-gnu qemu-user
test-neon:
	@$(MAKE) --no-print-directory deps PKGS="$(NEON_PKGS)"
	@mkdir -p $(BUILD)/neon
	aarch64-linux-gnu-gcc -std=c11 -O2 -static -Wall -Wextra -Isrc -Iinclude spec/c/test_kernels.c \
	  src/kernels/dot_*.c src/kernels/rows8.c src/kernels/cpu.c src/base/threadpool.c -lm -lpthread -o $(BUILD)/neon/test_kernels
	@qemu-aarch64 $(BUILD)/neon/test_kernels > $(BUILD)/neon/test.log || { cat $(BUILD)/neon/test.log; exit 1; }
	@grep -c '^ok' $(BUILD)/neon/test.log | sed 's/$$/ NEON kernel checks passed under qemu-aarch64/'

# Speed, never a timed test: BENCH_QUICK=1 for a quick subset.
bench: deps $(BUILD)/membw
	@$(MAKE) --no-print-directory all
	$(LUA) tools/bench.lua

# The server under load, 127.0.0.1 only (docs/server.md has the figures): LOADTEST_ARGS="--clients 8".
.PHONY: loadtest
loadtest: deps
	@$(MAKE) --no-print-directory all
	$(LUA) tools/loadtest.lua $(LOADTEST_ARGS)

# What a batch of T tokens costs against one (copy drafts; docs/performance.md).
$(BUILD)/batch_cost: tools/batch_cost.c $(CORE_OBJ) $(HEADERS)
	$(CC) $(CFLAGS_ALL) $< $(CORE_OBJ) -o $@ $(LIBS)

$(BUILD)/membw: tools/membw.c
	@mkdir -p $(BUILD)
	$(CC) -std=c11 -O2 -Wall -Wextra $< -o $@

# The shipped model's training set (16 MB, not committed) and its held-out set, which must come
# out byte for byte as the committed models/mobilellm-tiny-api/eval/test.jsonl (training/README.md);
# then the held-out tool set (issue #39), likewise, checked to share nothing with the training set.
dataset:
	@$(MAKE) --no-print-directory deps PKGS="python3 python3-sentencepiece"
	/usr/bin/python3 training/gen_dataset.py --augment --variety 5
	cmp data/api-calling/test.jsonl models/mobilellm-tiny-api/eval/test.jsonl
	/usr/bin/python3 training/heldout_tools.py --out data/api-calling/heldout-tools --check
	cmp data/api-calling/heldout-tools/tools.json models/mobilellm-tiny-api/eval/tools.json
	cmp data/api-calling/heldout-tools/tools_test.jsonl models/mobilellm-tiny-api/eval/tools_test.jsonl

# `make install PREFIX=...` without LuaRocks: the module, the Lua files, the CLI, the C
# library and its headers, and the models. LuaRocks runs install-rock, which leaves out the
# C library and headers (a rock is for Lua; they would land outside its tree). The CLI
# learns where the modules went (LuaRocks' wrapper sets the paths itself); the Lua code
# learns where the models went from a generated mobilellm/site.lua.
install: install-rock
	install -d "$(DESTDIR)$(PREFIX)/lib" "$(DESTDIR)$(PREFIX)/include"
	install -m 755 $(CLIB) "$(DESTDIR)$(PREFIX)/lib/libmobilellm.so"
	install -m 644 include/*.h "$(DESTDIR)$(PREFIX)/include/"

# Every model directory (models/NAME/ with a config.json) is copied whole, whatever
# companion files it has, into $(INST_DATADIR)/models/NAME, replacing an older copy.
# mobilellm/site.lua (lua/mobilellm/site.lua in the checkout) names that directory: %q
# quotes any path as Lua reads it back.
WRITE_SITE := io.write(("-- Written by make install: where the models were installed\n" \
              .. "return { models_dir = %q }\n"):format(arg[1]))
install-rock: all
	install -d "$(DESTDIR)$(INST_LIBDIR)/mobilellm" "$(DESTDIR)$(INST_LUADIR)/mobilellm/cli" \
	  "$(DESTDIR)$(INST_LUADIR)/mobilellm/jinja" "$(DESTDIR)$(INST_LUADIR)/mobilellm/server" "$(DESTDIR)$(INST_BINDIR)"
	install -m 755 $(MODULE) "$(DESTDIR)$(INST_LIBDIR)/mobilellm/core.so"
	install -m 755 $(LINEEDIT) "$(DESTDIR)$(INST_LIBDIR)/mobilellm/lineedit.so"
	install -m 644 lua/mobilellm/*.lua "$(DESTDIR)$(INST_LUADIR)/mobilellm/"
	install -m 644 lua/mobilellm/cli/*.lua "$(DESTDIR)$(INST_LUADIR)/mobilellm/cli/"
	install -m 644 lua/mobilellm/jinja/*.lua "$(DESTDIR)$(INST_LUADIR)/mobilellm/jinja/"
	install -m 644 lua/mobilellm/server/*.lua "$(DESTDIR)$(INST_LUADIR)/mobilellm/server/"
	$(LUA) -e '$(WRITE_SITE)' /dev/null "$(INST_DATADIR)/models" > "$(DESTDIR)$(INST_LUADIR)/mobilellm/site.lua"
	install -d "$(DESTDIR)$(INST_DATADIR)/models"
	@set -e; for d in models/*/; do \
	  d="$${d%/}"; [ -f "$$d/config.json" ] || continue; \
	  to="$(DESTDIR)$(INST_DATADIR)/models/$${d#models/}"; \
	  echo "installing $$d -> $$to"; rm -rf "$$to"; cp -RL "$$d" "$$to"; chmod -R u+rwX,go+rX,go-w "$$to"; \
	done
	sed 's|^local LUADIR, LIBDIR = nil, nil.*|local LUADIR, LIBDIR = "$(INST_LUADIR)", "$(INST_LIBDIR)"|' \
	  bin/mobilellm > "$(DESTDIR)$(INST_BINDIR)/mobilellm"
	chmod 755 "$(DESTDIR)$(INST_BINDIR)/mobilellm"

# luacheck (Debian's lua-check) on all Lua code; .luacheckrc has the settings.
lint:
	@$(MAKE) --no-print-directory deps PKGS=lua-check
	luacheck lua bin/mobilellm tools training examples spec .luacheckrc config.ld

# The reference of the Lua API (LDoc comments), in build/docs/index.html.
docs:
	@$(MAKE) --no-print-directory deps PKGS="lua-ldoc lua-markdown"
	ldoc .

clean:
	rm -rf $(BUILD)

# ---------------------------------------------------------------- robustness (issue 8)
# Fuzzing: every fuzz/fuzz_<name>.c is a libFuzzer harness, linked against the
# engine built with clang and ASan/UBSan; fuzz/corpus/<name>/ holds its seeds.
# `make fuzz SECONDS=N` runs each for N seconds (default 60; FUZZ="a b" only those
# harnesses); `make fuzz-smoke` (CI) for 10 s from the committed seeds only. New
# inputs go to $(FUZZ_BUILD)/corpus/<name>, crashes to $(FUZZ_BUILD)/artifacts/;
# `make fuzz-merge` adds to fuzz/corpus/<name> the new inputs that reach new code.
FUZZ_PKGS    := clang libclang-rt-14-dev
FUZZ_CC      ?= clang-14
FUZZ_CXX     ?= clang++-14
FUZZ_SECONDS ?= 60
SECONDS      ?= $(FUZZ_SECONDS)
FUZZ_BUILD   := $(BUILD)/fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
# FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION: checks that stop nearly every mutated
# input before the code under test (data.pkl's CRC-32) are off in this build only.
FUZZ_CFLAGS  := -std=c11 -g -O1 -fPIC -Iinclude -Isrc $(FUZZ_SAN) -fsanitize=fuzzer-no-link \
                -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
FUZZ_NAMES   := $(patsubst fuzz/fuzz_%.c,%,$(wildcard fuzz/fuzz_*.c))
FUZZ_BINS    := $(addprefix $(FUZZ_BUILD)/fuzz_,$(FUZZ_NAMES))
FUZZ_OBJ     := $(patsubst src/%.c,$(FUZZ_BUILD)/obj/%.o,$(CORE_SRC)) $(FUZZ_BUILD)/obj/text/tokenizer_sp.o

# Sanitizers: the module and the C tests built with ASan + UBSan in $(ASAN_BUILD)
# (the Makefile's own rules with BUILD changed), the whole suite run with them
# (lua5.4 itself is not instrumented: the ASan runtime is preloaded into it).
ASAN_BUILD   := $(BUILD)/asan
ASAN_FLAGS   := -fsanitize=address,undefined -fno-omit-frame-pointer
ASAN_RT      := $(shell $(CC) -print-file-name=libasan.so 2>/dev/null)
ASAN_ENV     := ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:detect_stack_use_after_return=0 \
                LSAN_OPTIONS=suppressions=$(CURDIR)/spec/asan.supp:print_suppressions=0 \
                UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# Programs the specs start (sh, make, tmux...) run without leak checks: spec/c/asan_env.c.
ASAN_CHILD   := MLLM_ASAN_CHILD_OPTIONS=detect_leaks=0:halt_on_error=1
VALGRIND_PKGS := valgrind

.PHONY: fuzz fuzz-build fuzz-merge fuzz-smoke test-asan test-tsan test-valgrind test-oom

$(FUZZ_BUILD)/obj/%.o: src/%.c $(HEADERS) Makefile
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@

$(FUZZ_BUILD)/obj/text/tokenizer_sp.o: $(CXX_SRC) $(HEADERS) Makefile
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) -std=c++17 -g -O1 -fPIC -Iinclude -Isrc $(FUZZ_SAN) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_BUILD)/libmllm.a: $(FUZZ_OBJ)
	rm -f $@
	ar rcs $@ $^

# Each harness takes from the archive only the engine files it calls.
$(FUZZ_BUILD)/fuzz_%: fuzz/fuzz_%.c $(FUZZ_BUILD)/libmllm.a $(HEADERS)
	$(FUZZ_CXX) -x c $(FUZZ_CFLAGS) $< -x none -fsanitize=fuzzer $(FUZZ_SAN) $(FUZZ_BUILD)/libmllm.a \
	  -o $@ $(LIBS)

# The chat-template engine is Lua: its harness embeds liblua5.4 (Debian's, not instrumented;
# the harness is) and loads the engine from the checkout's lua/ (MLLM_LUA_DIR).
FUZZ_LUA_CFLAGS := $(shell pkg-config --cflags lua5.4 2>/dev/null) -DMLLM_LUA_DIR='"$(CURDIR)/lua"'
FUZZ_LUA_LIBS   := $(shell pkg-config --libs lua5.4 2>/dev/null || echo -llua5.4)
$(FUZZ_BUILD)/fuzz_chat_template: fuzz/fuzz_chat_template.c fuzz/lua_runner.h fuzz/lua_coverage.h lua/mobilellm/jinja.lua $(wildcard lua/mobilellm/jinja/*.lua)
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) -x c $(FUZZ_CFLAGS) $(FUZZ_LUA_CFLAGS) $< -x none -fsanitize=fuzzer $(FUZZ_SAN) -o $@ \
	  $(FUZZ_LUA_LIBS) -lm

# The server's HTTP reader is Lua: its harness embeds liblua5.4 as the template's does.
$(FUZZ_BUILD)/fuzz_http_request: fuzz/fuzz_http_request.c fuzz/lua_runner.h fuzz/lua_coverage.h lua/mobilellm/server/http.lua lua/mobilellm/server/limits.lua
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) -x c $(FUZZ_CFLAGS) $(FUZZ_LUA_CFLAGS) $< -x none -fsanitize=fuzzer $(FUZZ_SAN) -o $@ \
	  $(FUZZ_LUA_LIBS) -lm

# The request bodies go through the core module's JSON decoder: the binding (src/lua) is built
# for the fuzzer like the engine and linked into the harness, the server's Lua loaded from lua/.
FUZZ_LUA_OBJ := $(patsubst src/%.c,$(FUZZ_BUILD)/obj/%.o,$(LUA_SRC))
$(FUZZ_LUA_OBJ): FUZZ_CFLAGS += $(FUZZ_LUA_CFLAGS)
$(FUZZ_BUILD)/fuzz_json_body: fuzz/fuzz_json_body.c fuzz/lua_runner.h fuzz/lua_coverage.h $(FUZZ_LUA_OBJ) $(FUZZ_BUILD)/libmllm.a $(wildcard lua/mobilellm/server/*.lua)
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) -x c $(FUZZ_CFLAGS) $(FUZZ_LUA_CFLAGS) $< -x none -fsanitize=fuzzer $(FUZZ_SAN) $(FUZZ_LUA_OBJ) \
	  $(FUZZ_BUILD)/libmllm.a -o $@ $(FUZZ_LUA_LIBS) $(LIBS)

fuzz-build: deps
	@$(MAKE) --no-print-directory deps PKGS="$(FUZZ_PKGS)"
	@$(MAKE) --no-print-directory $(FUZZ_BINS)

# $(1): seconds per harness, $(2): the work corpus folder ("" = a fresh one).
define run_fuzzers
	@mkdir -p $(FUZZ_BUILD)/artifacts; set -e; for n in $(or $(FUZZ),$(FUZZ_NAMES)); do \
	  work=$(FUZZ_BUILD)/$(2)/$$n; rm -rf $(FUZZ_BUILD)/smoke/$$n; mkdir -p $$work fuzz/corpus/$$n; \
	  echo "== fuzz_$$n: $(1) s"; \
	  $(FUZZ_BUILD)/fuzz_$$n $$work fuzz/corpus/$$n -max_total_time=$(1) -timeout=10 -rss_limit_mb=2048 \
	    -print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/artifacts/$$n- \
	    >$(FUZZ_BUILD)/fuzz_$$n.log 2>&1 || { tail -n 60 $(FUZZ_BUILD)/fuzz_$$n.log; exit 1; }; \
	  grep -E "stat::number_of_executed_units|stat::peak_rss_mb" $(FUZZ_BUILD)/fuzz_$$n.log | tr '\n' ' '; echo; \
	done
endef

fuzz: fuzz-build
	$(call run_fuzzers,$(SECONDS),corpus)

fuzz-merge: fuzz-build
	@set -e; for n in $(or $(FUZZ),$(FUZZ_NAMES)); do \
	  [ -d $(FUZZ_BUILD)/corpus/$$n ] || continue; before=$$(ls fuzz/corpus/$$n | wc -l); \
	  $(FUZZ_BUILD)/fuzz_$$n -merge=1 fuzz/corpus/$$n $(FUZZ_BUILD)/corpus/$$n >$(FUZZ_BUILD)/merge_$$n.log 2>&1 \
	    || { tail -n 20 $(FUZZ_BUILD)/merge_$$n.log; exit 1; }; \
	  echo "fuzz/corpus/$$n: $$before -> $$(ls fuzz/corpus/$$n | wc -l) inputs"; \
	done

fuzz-smoke: fuzz-build
	$(call run_fuzzers,10,smoke)

test-asan: deps
	@$(MAKE) --no-print-directory BUILD=$(ASAN_BUILD) OPT=-O1 CFLAGS="$(ASAN_FLAGS)" \
	  CXXFLAGS="$(ASAN_FLAGS)" LDFLAGS="$(ASAN_FLAGS)" $(ASAN_BUILD)/mobilellm/core.so $(ASAN_BUILD)/libmobilellm.so \
	  $(ASAN_BUILD)/mobilellm/lineedit.so $(ASAN_BUILD)/ptydrive $(patsubst $(BUILD)/%,$(ASAN_BUILD)/%,$(CTESTS))
	@set -e; for t in $(patsubst $(BUILD)/%,$(ASAN_BUILD)/%,$(CTESTS)); do \
	  echo "== $$t"; $(ASAN_ENV) $$t >$(ASAN_BUILD)/ctest.log 2>&1 || { tail -n 80 $(ASAN_BUILD)/ctest.log; exit 1; }; \
	done
	$(CC) -shared -fPIC -fsanitize=address spec/c/asan_env.c -o $(ASAN_BUILD)/asan_env.so
	$(call asan_busted,plain,)
	$(call asan_busted,proxy,--helper=spec/support/proxy_args.lua --exclude-tags=raw_keys)

# $(1): the run's name, $(2): busted flags. The second run hands every option table and
# id array to the binding as a proxy whose reads collect garbage (spec/support/proxy_args.lua).
define asan_busted
	@set -o pipefail; $(ASAN_ENV) $(ASAN_CHILD) LD_PRELOAD="$(ASAN_RT) $(CURDIR)/$(ASAN_BUILD)/asan_env.so" \
	  LUA_CPATH="$(CURDIR)/$(ASAN_BUILD)/?.so;;" \
	  $(BUSTED) --output=utfTerminal $(2) spec 2>&1 | tee $(ASAN_BUILD)/busted-$(1).log; status=$$?; \
	if grep -aqE "ERROR: (Address|Leak)Sanitizer|runtime error:" $(ASAN_BUILD)/busted-$(1).log; then \
	  echo "sanitizer report above ($(1) run)"; exit 1; fi; \
	summary=$$(grep -aE '[0-9]+ success' $(ASAN_BUILD)/busted-$(1).log | tail -n 1 | sed 's/\x1b\[[0-9;]*m//g'); \
	echo "asan ($(1)): $$summary"; \
	if echo "$$summary" | grep -qE '\b[1-9][0-9]* pending'; then echo "pending specs count as failed"; exit 1; fi; \
	exit $$status
endef

# Allocation failure (issue 41): the module built with ASan + UBSan and the fault-injection
# seam (src/base/alloc.h) in $(OOM_BUILD); tools/oom_walk.lua fails the 1st, 2nd, 3rd...
# allocation of each step of its scenarios until the step runs through, checking the error and
# the objects afterwards; LeakSanitizer, at exit, that nothing leaked. Every scenario once, then
# the shipped model's with every allocation after the nth failing too (--persist; the fixtures'
# take as long again: OOM_PERSIST="--persist" runs them all).
OOM_BUILD    := $(BUILD)/oom
OOM_PERSIST  ?= --persist shipped
test-oom: deps
	@$(MAKE) --no-print-directory BUILD=$(OOM_BUILD) OPT=-O1 CFLAGS="$(ASAN_FLAGS) -DMLLM_FAULT_INJECTION" \
	  CXXFLAGS="$(ASAN_FLAGS) -DMLLM_FAULT_INJECTION" LDFLAGS="$(ASAN_FLAGS)" $(OOM_BUILD)/mobilellm/core.so
	$(call oom_walk,plain,)
	$(call oom_walk,persist,$(OOM_PERSIST))

# $(1): the run's name, $(2): the walk's arguments.
define oom_walk
	@set -o pipefail; $(ASAN_ENV) LD_PRELOAD="$(ASAN_RT)" LUA_CPATH="$(CURDIR)/$(OOM_BUILD)/?.so;;" \
	  $(LUA) tools/oom_walk.lua $(2) 2>&1 | tee $(OOM_BUILD)/walk-$(1).log; status=$$?; \
	if grep -aqE "ERROR: (Address|Leak)Sanitizer|runtime error:" $(OOM_BUILD)/walk-$(1).log; then \
	  echo "sanitizer report above ($(1) walk)"; exit 1; fi; \
	exit $$status
endef

# The C tests again under ThreadSanitizer: sessions of one shared model on several OS threads
# (spec/c/test_threads.c: retain/release, the tokenizer, the fingerprint), each session's pool.
# A race report fails the run even when the test's own checks pass.
TSAN_BUILD   := $(BUILD)/tsan
TSAN_FLAGS   := -fsanitize=thread
TSAN_CTESTS  := $(patsubst $(BUILD)/%,$(TSAN_BUILD)/%,$(CTESTS))
test-tsan: deps
	@$(MAKE) --no-print-directory BUILD=$(TSAN_BUILD) OPT=-O1 CFLAGS="$(TSAN_FLAGS)" CXXFLAGS="$(TSAN_FLAGS)" \
	  LDFLAGS="$(TSAN_FLAGS)" $(TSAN_CTESTS)
	@set -e; for t in $(TSAN_CTESTS); do \
	  echo "== $$t"; TSAN_OPTIONS="halt_on_error=1 exitcode=66" $$t >$(TSAN_BUILD)/ctest.log 2>&1 \
	    || { tail -n 80 $(TSAN_BUILD)/ctest.log; exit 1; }; \
	  if grep -q "ThreadSanitizer" $(TSAN_BUILD)/ctest.log; then tail -n 80 $(TSAN_BUILD)/ctest.log; exit 1; fi; \
	done; echo "tsan: $(words $(TSAN_CTESTS)) C tests, no race reported"

test-valgrind: deps
	@$(MAKE) --no-print-directory deps PKGS="$(VALGRIND_PKGS)"
	@$(MAKE) --no-print-directory $(BUILD)/ctest/test_lifecycle
	@set -o pipefail; OPENBLAS_NUM_THREADS=1 valgrind --leak-check=full --show-leak-kinds=definite \
	  --errors-for-leak-kinds=definite --error-exitcode=1 $(BUILD)/ctest/test_lifecycle 2>&1 \
	  | tee $(BUILD)/valgrind.log; \
	grep -qE "definitely lost: 0 bytes|All heap blocks were freed" $(BUILD)/valgrind.log

# Long life (issue 41): model load/free cycles, tokenizers, sessions, saves, jobs, short
# generations, call parsing and requests to a child `mobilellm serve` in one process, RSS, fds and
# maps sampled; fails when one grows after the warm-up (docs/testing.md#long-life). SOAK_SCALE=0.01
# runs 1 % of the counts; SOAK_FLAGS passes more flags to tools/soak.lua.
SOAK_SCALE ?= 1
.PHONY: soak
soak: deps
	@$(MAKE) --no-print-directory all
	$(LUA) tools/soak.lua --scale $(SOAK_SCALE) $(SOAK_FLAGS)

# The C host of examples/game_npc.lua: a small "game engine" embedding Lua 5.4.
HOST       := $(BUILD)/examples/host
HOST_FLAGS := $(shell pkg-config --cflags --libs lua5.4 2>/dev/null || echo -I/usr/include/lua5.4 -llua5.4)
JOB_HOST   := $(BUILD)/examples/job_host
.PHONY: examples
examples: $(MODULE) $(HOST) $(JOB_HOST)

# The C host of mllm_job (no Lua): a frame loop that steps a job, then polls an async one.
$(JOB_HOST): examples/host/job_host.c include/mobilellm.h $(CLIB)
	@mkdir -p $(dir $@)
	$(CC) -std=c11 $(OPT) -g -Wall -Wextra -Wshadow -Iinclude $< -o $@ -L$(BUILD) -lmobilellm \
	  -Wl,-rpath,$(CURDIR)/$(BUILD)

$(HOST): examples/host/host.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 $(OPT) -g -Wall -Wextra -Wshadow $< -o $@ $(HOST_FLAGS)
