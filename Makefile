# dlmscope — configure-free build.
#
#   make              build ./dlmscope (CUDA backend too when nvcc is found; CUDA=0 forces CPU only)
#   make test         build and run the whole test suite (headless; the GPU test skips without a GPU)
#   make debug        build with AddressSanitizer + UndefinedBehaviorSanitizer and run the suite with it
#   make test-cuda    compare the CUDA backend with the CPU one (needs an NVIDIA GPU; exit 77 without)
#   make test-cuda-emu the same comparison on a CPU emulation of CUDA (no GPU or nvcc; g++ and python3)
#   make lint         check the one-way include rules between modules
#   make bench        CPU engine benchmarks (figures for docs/BENCHMARKS.md)
#   make bench-compare the CPU engine against PyTorch (train/model.py) on the same weights (needs torch)
#   make fixtures     regenerate the PyTorch reference fixtures (needs python3 with torch)
#   make samples      regenerate samples/traces with the bundled model
#   make install      install the binary, its data, the man page and completions (PREFIX, DESTDIR)
#   make uninstall    remove what make install installed
#   make man          build/.../dlmscope.1 (man -l renders it)
#
# Knobs: CC, CFLAGS, CUDA=auto|0|1|emu, NVCC, CUDA_ARCH, EMU=bf16|fp32, OPENBLAS_DIR, PREFIX, DESTDIR.

CC      ?= cc
PYTHON  ?= /usr/bin/python3
CFLAGS  ?= -O2 -g
WARN    := -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter -Wno-format-truncation -Wno-missing-field-initializers
DEFS    := -D_GNU_SOURCE
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)

# OpenBLAS: prefer the OpenMP build so BLAS threads and our OpenMP loops share one thread pool.
OPENBLAS_DIR ?= $(firstword $(wildcard /usr/lib/$(MULTIARCH)/openblas-openmp))
ifneq ($(OPENBLAS_DIR),)
  BLAS_CFLAGS := -I/usr/include/$(MULTIARCH)/openblas-openmp
  BLAS_LIBS   := -L$(OPENBLAS_DIR) -Wl,-rpath,$(OPENBLAS_DIR) -lopenblas
else
  BLAS_CFLAGS := $(shell pkg-config --cflags openblas 2>/dev/null)
  BLAS_LIBS   := $(shell pkg-config --libs openblas 2>/dev/null || echo -lopenblas)
endif

PKGS      := jansson libpcre2-8 libutf8proc msgpack ncursesw termkey
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -ljansson -lpcre2-8 -lutf8proc -lmsgpackc -lncursesw -ltinfo -ltermkey)
ALL_CFLAGS = $(WARN) $(DEFS) $(CFLAGS) -fopenmp -I. -I$(BUILD) $(BLAS_CFLAGS) $(PKG_CFLAGS)

# Installation directories (GNU conventions). The data folder is compiled in (cli/paths.c), but the
# binary first looks next to itself and in BINDIR/../share/dlmscope, so a moved tree still works.
PREFIX      ?= /usr/local
prefix      ?= $(PREFIX)
exec_prefix ?= $(prefix)
bindir      ?= $(exec_prefix)/bin
datarootdir ?= $(prefix)/share
datadir     ?= $(datarootdir)
mandir      ?= $(datarootdir)/man
docdir      ?= $(datarootdir)/doc/dlmscope
pkgdatadir  ?= $(datadir)/dlmscope
bashcompdir ?= $(datarootdir)/bash-completion/completions
zshcompdir  ?= $(datarootdir)/zsh/site-functions
INSTALL     ?= install
LIBS       = $(PKG_LIBS) $(BLAS_LIBS) -fopenmp -lpthread -lm

# ---- CUDA (optional) --------------------------------------------------------------------------
CUDA ?= auto
NVCC ?= $(shell command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null)
CU_SRC := $(wildcard engine/*.cu)
ifeq ($(CUDA),0)
  USE_CUDA :=
else ifeq ($(CUDA),emu)
  USE_CUDA :=
  USE_EMU  := 1
else ifeq ($(NVCC),)
  USE_CUDA :=
else ifeq ($(CU_SRC),)
  USE_CUDA :=
else
  USE_CUDA := 1
endif
ifeq ($(CUDA)$(USE_CUDA),1)
  $(error CUDA=1 but no nvcc was found (set NVCC=/path/to/nvcc))
endif
ifeq ($(MAKECMDGOALS),clean)
else ifneq ($(USE_CUDA),)
  $(info ✓ nvcc found ($(NVCC)): building the CUDA backend)
else ifneq ($(USE_EMU),)
  $(info ✓ CUDA=emu: the CUDA backend on the CPU emulator of tests/cuda/emu ($(EMU) mode; test only))
else ifeq ($(CUDA),0)
  $(info ✗ CUDA=0: CPU backend only)
else ifeq ($(NVCC),)
  $(info ✗ nvcc not found: CPU backend only)
else
  $(info ✗ no CUDA sources yet: CPU backend only)
endif
# The CUDA build keeps its objects apart (backend.c is compiled with -DDLM_CUDA there), so switching
# between `make` and `make CUDA=0` never links a stale object. nvcc compiles engine/*.cu; the C
# compiler links, with the CUDA runtime and cuBLAS found through an rpath.
CUDA_ARCH ?= sm_90
ifneq ($(USE_CUDA),)
  BUILD     ?= build/release-cuda
  CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))
  DEFS      += -DDLM_CUDA
  NVCCFLAGS := -O2 -std=c++17 -arch=$(CUDA_ARCH) -lineinfo -DDLM_CUDA -D_GNU_SOURCE -I. -Werror all-warnings \
               -Xcompiler -Wall,-Wextra,-Werror,-Wno-unused-parameter,-Wno-missing-field-initializers
  CU_OBJ     = $(CU_SRC:%.cu=$(BUILD)/%.o)
  LIBS      += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublas -lcudart -lstdc++
endif
# CUDA=emu (what `make test-cuda-emu` builds): engine/backend_cuda.cu rewritten by
# tests/cuda/emu/transform.py and compiled by the C++ compiler against the CPU emulation of the
# CUDA subset it uses, so the kernels' logic runs without a GPU. EMU=fp32 keeps bf16 values as
# fp32 (the backend must then match the CPU to rounding); EMU=bf16 rounds where the GPU does.
EMU ?= bf16
ifneq ($(USE_EMU),)
  BUILD       ?= build/emu-$(EMU)
  DEFS        += -DDLM_CUDA
  EMU_CXXFLAGS = -std=c++17 $(CFLAGS) -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers \
                 -Wno-unknown-pragmas -D_GNU_SOURCE -DDLM_CUDA $(if $(filter fp32,$(EMU)),-DEMU_FP32) -I. -Iengine -Itests/cuda/emu
  CU_OBJ       = $(BUILD)/engine/backend_cuda.emu.o $(BUILD)/tests/cuda/emu/emu.o
  LIBS        += -lstdc++
endif

# ---- sources ----------------------------------------------------------------------------------
ENGINE_SRC := $(wildcard engine/*.c engine/rules/*.c)
RECORD_SRC := $(wildcard record/*.c)
REPLAY_SRC := $(wildcard replay/*.c)
TUI_SRC    := $(wildcard tui/*.c)
EVAL_SRC   := $(wildcard eval/*.c)
CLI_SRC    := $(wildcard cli/*.c)
LIB_SRC    := $(ENGINE_SRC) $(RECORD_SRC) $(REPLAY_SRC) $(TUI_SRC) $(EVAL_SRC)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)

# (build/release-cuda when the CUDA backend is built: set above)
BUILD ?= build/release
THEMES  := $(wildcard themes/*.theme)
LIB_OBJ  = $(LIB_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/themes_builtin.o $(CU_OBJ)
CLI_OBJ  = $(CLI_SRC:%.c=$(BUILD)/%.o)
UNIT_BIN = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_SRC := $(wildcard tests/tools/*.c)
TOOL_BIN = $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tools/%)

.PHONY: all test debug test-cuda test-cuda-emu emu-run lint bench bench-compare fixtures clean units fuzz fuzz-targets samples \
        install uninstall man FORCE
.DEFAULT_GOAL := all

all: dlmscope

dlmscope: $(BUILD)/dlmscope
	@cp $< $@.tmp && mv -f $@.tmp $@   # replace, not overwrite: a running dlmscope keeps its file

$(BUILD)/dlmscope: $(LIB_OBJ) $(CLI_OBJ)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/%.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -MMD -MP -MF $(@:.o=.d) -c -o $@ $<

$(BUILD)/engine/backend_cuda.emu.cpp: engine/backend_cuda.cu tests/cuda/emu/transform.py
	@mkdir -p $(dir $@)
	$(PYTHON) tests/cuda/emu/transform.py $< $@

$(BUILD)/%.emu.o: $(BUILD)/%.emu.cpp
	$(CXX) $(EMU_CXXFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/tests/cuda/emu/emu.o: tests/cuda/emu/emu.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(EMU_CXXFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/gen/themes_builtin.c: $(THEMES) tui/gen_themes.sh
	@mkdir -p $(dir $@)
	@tui/gen_themes.sh $@ $(THEMES)

# Build facts for --version and the compiled-in data folder; the header is rewritten only when they
# change, so only cli/version.o, cli/paths.o and cli/manual.o rebuild.
# Outside a git checkout (a `git archive` tarball) the revision is the one git archive wrote into
# REVISION (export-subst, .gitattributes); in a checkout that file still holds its placeholder.
ARCHIVE_REVISION = $(shell sed -n 's/^\([0-9a-f]\{7,\}\)$$/\1 (archive)/p' $(CURDIR)/REVISION 2>/dev/null)
GIT_REVISION = $(shell git -C $(CURDIR) describe --always --dirty --tags 2>/dev/null || echo '$(or $(ARCHIVE_REVISION),unknown)')
ifneq ($(USE_CUDA),)
  CUDA_INFO = built for $(CUDA_ARCH) with nvcc $(shell $(NVCC) --version 2>/dev/null | sed -n 's/.*release \([0-9.]*\).*/\1/p')
else ifneq ($(USE_EMU),)
  CUDA_INFO = emulated on the CPU ($(EMU); a test build)
else
  CUDA_INFO = not built (CUDA=$(CUDA)$(if $(NVCC),,; no nvcc))
endif
$(BUILD)/gen/buildinfo.h: FORCE
	@mkdir -p $(dir $@)
	@{ echo '// generated by the Makefile: build facts (do not edit)'; \
	   echo '#define DLM_GIT_REVISION "$(GIT_REVISION)"'; \
	   echo '#define DLM_CUDA_INFO "$(CUDA_INFO)"'; \
	   echo '#define DLM_BLAS_INFO "$(if $(OPENBLAS_DIR),$(OPENBLAS_DIR),$(BLAS_LIBS))"'; \
	   echo '#define DLM_PREFIX "$(prefix)"'; \
	   echo '#define DLM_DATADIR "$(pkgdatadir)"'; } >$@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv -f $@.tmp $@; fi
$(BUILD)/cli/version.o $(BUILD)/cli/paths.o $(BUILD)/cli/manual.o: $(BUILD)/gen/buildinfo.h
FORCE:

$(BUILD)/gen/themes_builtin.o: $(BUILD)/gen/themes_builtin.c
	$(CC) $(WARN) -Wno-missing-variable-declarations $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(shell pkg-config --cflags cmocka) -o $@ $< $(LIB_OBJ) $(LIBS) $(shell pkg-config --libs cmocka)

$(BUILD)/tools/%: tests/tools/%.c
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(DEFS) $(CFLAGS) $(PKG_CFLAGS) -o $@ $< $(PKG_LIBS) -lm

units: $(UNIT_BIN) $(TOOL_BIN) $(BUILD)/dlmscope

test: lint units
	@DLMSCOPE=$(BUILD)/dlmscope UNIT_DIR=$(BUILD)/tests TOOL_DIR=$(BUILD)/tools tests/run.sh

# Sanitised build and suite. detect_leaks stays on; OpenMP/OpenBLAS runtime allocations are suppressed.
# CPU only: the sanitizers and the CUDA runtime do not mix.
debug:
	@$(MAKE) --no-print-directory CUDA=0 BUILD=build/debug CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" units
	@DLMSCOPE=build/debug/dlmscope UNIT_DIR=build/debug/tests TOOL_DIR=build/debug/tools DLM_SANITIZED=1 \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 tests/run.sh

# The CUDA backend against the CPU reference (tests/cuda/test_cuda.c). In CUDA builds it sits with
# the unit tests, so `make test` runs it: on a machine without a GPU it prints why and exits 77,
# which the suite reports as SKIP (a skipped test is not a passed one). `make test-cuda` runs it
# alone and fails (exit 77) without a GPU.
CUDA_TEST_BIN = $(BUILD)/tests/test_cuda
$(CUDA_TEST_BIN): tests/cuda/test_cuda.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(shell pkg-config --cflags cmocka) -o $@ $< $(LIB_OBJ) $(LIBS) $(shell pkg-config --libs cmocka)

ifneq ($(USE_CUDA)$(USE_EMU),)
units: $(CUDA_TEST_BIN)
endif
ifneq ($(USE_CUDA),)
test-cuda: $(CUDA_TEST_BIN)
	@$(CUDA_TEST_BIN)
else
test-cuda:
	@echo "test-cuda: this build has no CUDA backend (nvcc not found, or CUDA=0): nothing was tested"; exit 1
endif

# The same test on the CPU emulator (no GPU, no nvcc; needs g++ and python3), with ASan + UBSan:
# first with bf16 kept as fp32, where the CUDA path must match the CPU to rounding, then with
# bf16 rounding. It checks the kernels' indexing, masking, reductions and caching logic, not their
# timing, races under the real memory model, or cuBLAS's numerics (tests/cuda/emu/cuda_emu.h).
EMU_CFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
test-cuda-emu:
	@[ "$$(uname -m)" = x86_64 ] || { echo "test-cuda-emu: SKIPPED: the emulator's fibers switch stacks in x86-64 assembly"; exit 77; }
	@$(MAKE) --no-print-directory CUDA=emu EMU=fp32 CFLAGS="$(EMU_CFLAGS)" emu-run
	@$(MAKE) --no-print-directory CUDA=emu EMU=bf16 CFLAGS="$(EMU_CFLAGS)" emu-run

emu-run: $(CUDA_TEST_BIN)
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 OMP_NUM_THREADS=$${OMP_NUM_THREADS:-2} OMP_WAIT_POLICY=passive $(CUDA_TEST_BIN)

lint:
	@tests/lint.sh

# libFuzzer targets (clang) over the trace reader, safetensors, config/rule parsers and the
# tokenizer: replay the kept regressions, then fuzz each for FUZZ_SECONDS from the seed corpus.
FUZZ_SECONDS ?= 30
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN  = $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)
fuzz:
	@command -v clang >/dev/null || { echo "fuzz: clang not found (scripts/install-deps.sh installs it)"; exit 1; }
	@$(MAKE) --no-print-directory CUDA=0 BUILD=build/fuzz CC=clang \
	  CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -Wno-unknown-warning-option" fuzz-targets
	@tests/fuzz/run.sh build/fuzz/fuzz $(FUZZ_SECONDS)

fuzz-targets: $(FUZZ_BIN)

FUZZ_CLI_OBJ = $(BUILD)/cli/trace_json.o # fuzz_trace_json: the JSON of trace dump --json (no command table)
$(BUILD)/fuzz/%: tests/fuzz/%.c $(LIB_OBJ) $(FUZZ_CLI_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer -o $@ $< $(LIB_OBJ) $(FUZZ_CLI_OBJ) $(LIBS)

bench: $(BUILD)/dlmscope
	@DLMSCOPE=$(BUILD)/dlmscope tests/bench.sh

# dlmscope against PyTorch, interleaved in one run (tests/bench_compare.py; SKIPPED, exit 77, without torch).
# BENCH_COMPARE_ARGS narrows it, e.g. "--shapes small --tokens 128,512".
bench-compare: $(BUILD)/dlmscope
	@$(PYTHON) tests/bench_compare.py --dlmscope $(BUILD)/dlmscope $(BENCH_COMPARE_ARGS)

samples: dlmscope
	@scripts/make_samples.sh

fixtures:
	$(PYTHON) tests/reference/make_fixtures.py tests/fixtures
	$(PYTHON) tests/reference/families_reference.py tests/fixtures
	$(PYTHON) tests/reference/moe_reference.py tests/fixtures
	$(PYTHON) tests/reference/make_ling_tokenizer.py tests/fixtures/tokenizer-ling.json
	$(PYTHON) tests/reference/dream_reference.py tests/fixtures
	$(PYTHON) tests/reference/fdllm2_reference.py tests/fixtures
	$(PYTHON) tests/reference/d2f_reference.py tests/fixtures
	$(PYTHON) tests/reference/rules_reference.py tests/fixtures

# ---- install ----------------------------------------------------------------------------------
# The data: the bundled model(s) with their adapters, sample prompts, task sets, traces, themes.
# INSTALL_BIN: the binary to install (the install test passes the one it tests, so nothing rebuilds).
INSTALL_BIN ?= dlmscope
DATA_FILES   = $(shell find samples/models samples/tasks samples/traces -type f 2>/dev/null | LC_ALL=C sort) \
               $(wildcard samples/prompts.txt) $(THEMES)
DOC_FILES    = README.md $(wildcard docs/*.md)
MAN_PAGE     = $(BUILD)/dlmscope.1

man: $(MAN_PAGE)
$(MAN_PAGE): $(BUILD)/dlmscope
	$< --man >$@.tmp && mv -f $@.tmp $@

# The man page and completions come from the binary being installed (dlmscope --man, --completion).
install: $(INSTALL_BIN)
	$(INSTALL) -d $(DESTDIR)$(bindir) $(DESTDIR)$(mandir)/man1 $(DESTDIR)$(bashcompdir) $(DESTDIR)$(zshcompdir) $(DESTDIR)$(docdir)
	$(INSTALL) -m 755 $(INSTALL_BIN) $(DESTDIR)$(bindir)/dlmscope
	@set -e; for f in $(DATA_FILES); do $(INSTALL) -D -m 644 "$$f" "$(DESTDIR)$(pkgdatadir)/$$f"; done
	@echo "installed $(words $(DATA_FILES)) data files in $(DESTDIR)$(pkgdatadir)"
	$(INSTALL) -m 644 $(DOC_FILES) $(DESTDIR)$(docdir)
	$(abspath $(INSTALL_BIN)) --man >$(DESTDIR)$(mandir)/man1/dlmscope.1
	$(abspath $(INSTALL_BIN)) --completion bash >$(DESTDIR)$(bashcompdir)/dlmscope
	$(abspath $(INSTALL_BIN)) --completion zsh >$(DESTDIR)$(zshcompdir)/_dlmscope
	chmod 644 $(DESTDIR)$(mandir)/man1/dlmscope.1 $(DESTDIR)$(bashcompdir)/dlmscope $(DESTDIR)$(zshcompdir)/_dlmscope

# Removes each file install wrote, then the folders of ours left empty (never a shared one).
uninstall:
	rm -f $(DESTDIR)$(bindir)/dlmscope $(DESTDIR)$(mandir)/man1/dlmscope.1 \
	      $(DESTDIR)$(bashcompdir)/dlmscope $(DESTDIR)$(zshcompdir)/_dlmscope
	rm -f $(addprefix $(DESTDIR)$(docdir)/,$(notdir $(DOC_FILES)))
	@set -e; for f in $(DATA_FILES); do rm -f "$(DESTDIR)$(pkgdatadir)/$$f"; done
	@for d in $(DESTDIR)$(pkgdatadir) $(DESTDIR)$(docdir); do \
	   [ ! -d "$$d" ] || find "$$d" -depth -type d -empty -delete; done

clean:
	rm -rf build dlmscope

-include $(shell find build -name '*.d' 2>/dev/null)
