# persona - one Makefile.
#
#   make               optimised build: build/persona, build/libpersona.a
#   make NATIVE=1      also -march=native (kernels still pick ISA at run time)
#   make SAN=1         ASan + UBSan build in build-san/
#   make CLANG=1       the same optimised build with clang, in build-clang/
#   make test          build and run the whole suite (unit + command-line)
#   make fuzz          libFuzzer targets in build-fuzz/ (clang)
#   make bench         benchmark binaries (see bench/README.md)
#
# Sources are found by wildcard: a new module is a new .c file, nothing to
# register here.  Tests and commands register themselves (see tests/test.h,
# cli/cli.h).

CC      ?= cc
PKGS    := jansson libutf8proc sqlite3 libsodium libmicrohttpd friso
WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wno-unused-parameter
CPPFLAGS += -D_GNU_SOURCE -Iinclude -Isrc -I/usr/include/x86_64-linux-gnu/openblas-pthread \
            $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null) \
           -L/usr/lib/x86_64-linux-gnu/openblas-pthread -lopenblas -lpthread -lm

ifeq ($(CLANG),1)
  CC     := clang
  BUILD  := build-clang
  OPT    := -O2 -g
else ifeq ($(SAN),1)
  BUILD  := build-san
  OPT    := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
  LDFLAGS += -fsanitize=address,undefined
else
  BUILD  := build
  OPT    := -O2 -g
endif
ifeq ($(NATIVE),1)
  OPT += -march=native
endif
ifeq ($(WERROR),1)
  WARN += -Werror
endif
CFLAGS  ?=
CFLAGS  += -std=c11 $(OPT) $(WARN) -MMD -MP

LIB_SRC  := $(wildcard src/*/*.c)
CLI_SRC  := $(wildcard cli/*.c)
TEST_SRC := $(wildcard tests/*.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/%.o)

.PHONY: all test fuzz fuzz-run bench clean
all: $(BUILD)/persona

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/libpersona.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/persona: $(CLI_OBJ) $(BUILD)/libpersona.a
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libpersona.a $(LDLIBS)

$(BUILD)/test_unit: $(TEST_OBJ) $(BUILD)/libpersona.a
	$(CC) $(LDFLAGS) -o $@ $(TEST_OBJ) $(BUILD)/libpersona.a $(LDLIBS)

test: $(BUILD)/persona $(BUILD)/test_unit
	@BUILD=$(BUILD) tests/run.sh

# Fuzzing: each fuzz/fuzz_*.c is one libFuzzer target built with clang.
FUZZ_SRC := $(wildcard fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:fuzz/%.c=build-fuzz/%)
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=build-fuzz/%.o)
# Keep the instrumented objects between runs (make would delete them as
# intermediates and rebuild the whole library for every target).
.SECONDARY: $(FUZZ_LIB_OBJ)
build-fuzz/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(CPPFLAGS) -std=c11 -O1 -g -fsanitize=fuzzer-no-link,address,undefined -c $< -o $@
build-fuzz/fuzz_%: fuzz/fuzz_%.c $(FUZZ_LIB_OBJ)
	clang $(CPPFLAGS) -std=c11 -O1 -g -fsanitize=fuzzer,address,undefined $^ -o $@ $(LDLIBS)
fuzz: $(FUZZ_BIN)
# Bounded run of every target (FUZZ_SECONDS each) over its seed corpus.
FUZZ_SECONDS ?= 20
# A fixed seed makes a CI run replay the mutations a local run explored.
FUZZ_SEED ?= 1
FUZZ_TARGETS ?= $(FUZZ_BIN)
fuzz-run: $(FUZZ_TARGETS)
	@for t in $(FUZZ_TARGETS); do n=$$(basename $$t); mkdir -p build-fuzz/corpus/$$n; \
	  $$t -seed=$(FUZZ_SEED) -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -timeout=5 -rss_limit_mb=1024 \
	      build-fuzz/corpus/$$n fuzz/corpus/$$n 2>build-fuzz/$$n.log \
	  && echo "fuzz $$n: ok" || { echo "fuzz $$n: FAILED"; tail -40 build-fuzz/$$n.log; exit 1; }; done

# Benchmarks: every bench/**/*.c is a standalone program built here; each
# bench/<topic>/run.sh runs one comparison (see bench/RESULTS.md).
BENCH_SRC := $(wildcard bench/*.c bench/*/*.c)
BENCH_BIN := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))
$(BUILD)/bench/%: bench/%.c $(BUILD)/libpersona.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libpersona.a $(LDLIBS)
bench: $(BUILD)/persona $(BENCH_BIN)
	@echo "benchmark programs are in $(BUILD)/bench/; run bench/<topic>/run.sh (see bench/RESULTS.md)"

clean:
	rm -rf build build-san build-clang build-fuzz

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_OBJ:.o=.d)

# The segmenter comparison also links ICU (bench-only dependency).
$(BUILD)/bench/lda/zh_seg_compare: LDLIBS += -licuuc -licudata
