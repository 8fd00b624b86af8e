# mobilellm — build, test and demo. `make demo` and `make test` install any
# missing Debian packages first (as root), so a fresh Debian 12 needs nothing else.

SHELL      := /bin/bash
LUA        ?= lua5.4
BUSTED     ?= $(LUA) /usr/bin/busted
CC         ?= gcc
CXX        ?= g++
PKGS       := lua5.4 liblua5.4-dev libopenblas-dev libsentencepiece-dev libcjson-dev lua-busted pkg-config
OPT        ?= -O2
CFLAGS_ALL := -std=c11 $(OPT) -g -fPIC -Wall -Wextra -Wshadow -Wno-unused-parameter \
              -Iinclude -Isrc $(shell pkg-config --cflags lua5.4 2>/dev/null) $(CFLAGS)
CXXFLAGS_ALL := -std=c++17 $(OPT) -g -fPIC -Wall -Wextra -Iinclude -Isrc $(CXXFLAGS)
LIBS       := -lopenblas -lsentencepiece -lcjson -lstdc++ -lm -lpthread

BUILD      := build
MODULE     := $(BUILD)/mobilellm/core.so
CORE_SRC   := $(filter-out src/lua_%.c,$(wildcard src/*.c)) $(wildcard src/kernels/*.c)
LUA_SRC    := $(wildcard src/lua_*.c)
CXX_SRC    := src/tokenizer_sp.cpp
CORE_OBJ   := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(CORE_SRC)) $(BUILD)/obj/tokenizer_sp.o
LUA_OBJ    := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(LUA_SRC))
HEADERS    := $(wildcard include/*.h src/*.h src/kernels/*.h)
CTESTS     := $(patsubst spec/c/%.c,$(BUILD)/ctest/%,$(wildcard spec/c/test_*.c))

export LUA_PATH  := $(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;$(CURDIR)/spec/?.lua;;
export LUA_CPATH := $(CURDIR)/$(BUILD)/?.so;;

.PHONY: all deps test ctest demo clean install install-rock

PREFIX     ?= /usr/local
INST_LIBDIR ?= $(PREFIX)/lib/lua/5.4
INST_LUADIR ?= $(PREFIX)/share/lua/5.4

all: $(MODULE)

$(BUILD)/obj/%.o: src/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/obj/tokenizer_sp.o: $(CXX_SRC) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS_ALL) -c $< -o $@

$(MODULE): $(CORE_OBJ) $(LUA_OBJ)
	@mkdir -p $(dir $@)
	$(CC) -shared $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/ctest/%: spec/c/%.c $(CORE_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $< $(CORE_OBJ) -o $@ $(LIBS)

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
	@$(MAKE) --no-print-directory all ctest
	@set -o pipefail; $(BUSTED) --output=utfTerminal spec 2>&1 | tee $(BUILD)/busted.log; \
	status=$$?; \
	summary=$$(grep -aE '[0-9]+ success' $(BUILD)/busted.log | tail -n 1 | sed 's/\x1b\[[0-9;]*m//g'); \
	ok=$$(echo "$$summary" | sed -nE 's/.*\b([0-9]+) success.*/\1/p'); \
	ko=$$(echo "$$summary" | sed -nE 's/.*\b([0-9]+) failure.*/\1/p'); \
	er=$$(echo "$$summary" | sed -nE 's/.*\b([0-9]+) error.*/\1/p'); \
	echo "$${ok:-0} passed, $$(( $${ko:-0} + $${er:-0} )) failed"; \
	exit $$status

demo: deps
	@$(MAKE) --no-print-directory all
	$(LUA) examples/demo.lua

# `make install PREFIX=...` without LuaRocks; luarocks uses install-rock.
install install-rock: all
	install -d $(DESTDIR)$(INST_LIBDIR)/mobilellm $(DESTDIR)$(INST_LUADIR)/mobilellm
	install -m 755 $(MODULE) $(DESTDIR)$(INST_LIBDIR)/mobilellm/core.so
	install -m 644 lua/mobilellm/*.lua $(DESTDIR)$(INST_LUADIR)/mobilellm/

clean:
	rm -rf $(BUILD)
