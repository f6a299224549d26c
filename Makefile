# bigbatch build. `make` builds build/libbigbatch.a, build/bigbatch and
# build/bb_tests. Optional parts: MPI=1|0 (default: on when mpicc exists),
# CUDA=1 (default off; builds into build-cuda/, for CUDA_ARCH, with the toolkit,
# cuDNN and NCCL found in CUDA_INC and CUDA_LIB; NCCL=0: one GPU per run).
# SAN=1 builds everything with ASan+UBSan into build-san/, SAN=thread with
# ThreadSanitizer into build-tsan/; `make fuzz` builds the libFuzzer targets
# (clang) into build-fuzz/ (fuzz/fuzz.mk). LDFLAGS is added to every link.
CC      ?= cc
OPT     ?= -O2
WERROR  ?=
SAN     ?= 0
CUDA    ?= 0
CUDA_HOME ?= /usr/local/cuda
CUDA_ARCH ?= sm_90
CUDA_INC ?= $(CUDA_HOME)/include
CUDA_LIB ?= $(CUDA_HOME)/lib64
NCCL    ?= 1
comma   := ,
ifeq ($(origin MPI), undefined)
MPI := $(if $(shell command -v mpicc 2>/dev/null),1,0)
endif

CUDA_SUFFIX := $(if $(filter 1,$(CUDA)),-cuda)
BUILD   := build$(CUDA_SUFFIX)
CFLAGS_BASE := -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Wpedantic \
               -Wshadow -Wno-unused-parameter $(WERROR) -MMD -MP \
               -Iinclude -Isrc -I/usr/include/x86_64-linux-gnu/openblas-pthread
# no -march=native: one binary runs on every x86-64; the kernels that need
# AVX2+FMA or AVX-512 carry their own target attributes (src/ops/ukernel.c)
ARCH    ?=
ifeq ($(SAN),1)
BUILD   := build-san$(CUDA_SUFFIX)
OPT     := -O1 -g -fno-omit-frame-pointer
CFLAGS_BASE += -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDFLAGS_SAN := -fsanitize=address,undefined
endif
ifeq ($(SAN),thread)
BUILD   := build-tsan$(CUDA_SUFFIX)
OPT     := -O1 -g
CFLAGS_BASE += -fsanitize=thread
LDFLAGS_SAN := -fsanitize=thread
endif
ifeq ($(SAN),fuzz)
BUILD   := build-fuzz
CC      := clang
MPI     := 0
OPT     := -O1 -g -fno-omit-frame-pointer
CFLAGS_BASE += -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -DBB_LIBFUZZER=1
LDFLAGS_SAN := -fsanitize=fuzzer,address,undefined
endif
CFLAGS  := $(CFLAGS_BASE) $(OPT) $(ARCH) $(EXTRA_CFLAGS)
LDLIBS  := -lopenblas -ljpeg -lpng -lz -lpthread -lm
# the AVX2+FMA and AVX-512 twins of the channels-last element-wise operators (x86-64 only;
# src/ops/nhwc_avx2.h); the register kernels set their targets in the source
X86     := $(if $(filter x86_64% i386% i686%,$(shell $(CC) -dumpmachine 2>/dev/null)),1,0)
ifeq ($(X86),1)
$(BUILD)/src/ops/nhwc_avx2.o $(BUILD)/src/optim/update_cpu_avx2.o: CFLAGS += -mavx2 -mfma -ffp-contract=off
$(BUILD)/src/ops/nhwc_avx512.o: CFLAGS += -mavx512f -mavx2 -mfma -ffp-contract=off
endif
# the operators' loops start on a cache line: where a hot loop (the register
# tiles' k loop, 128 bytes) falls otherwise depends on the code before it, and
# a change anywhere in src/ops moved a training step by 3% (docs/PERFORMANCE.md)
$(BUILD)/src/ops/%.o: CFLAGS += -falign-loops=64
# the update's element loops (src/optim/update_cpu.c): vectorized by the
# compiler, which gcc's cheapest cost model at -O2 would not do for them
# (clang vectorizes them at -O2 and has no such flag)
VECT_DYN := $(shell $(CC) -fvect-cost-model=dynamic -E -x c /dev/null >/dev/null 2>&1 && echo -fvect-cost-model=dynamic)
$(BUILD)/src/optim/update_cpu.o $(BUILD)/src/optim/update_cpu_avx2.o: CFLAGS += $(VECT_DYN)
# the tests' emulated AVX-512 tiles (tests/ukernel_emu512.c, over SIMDe, whose
# headers bb_tests needs): gcc notes there that 64-byte arguments changed ABI in 4.6
$(BUILD)/tests/ukernel_emu512.o: CFLAGS += -Wno-psabi

ALL_C   := $(shell find src -name '*.c' | sort)
CLI_C   := $(filter src/cli/%,$(ALL_C))
MPI_C   := $(filter %_mpi.c,$(ALL_C))
CUDA_C  := $(filter %_cuda.c,$(ALL_C))
NOMPI_C := $(filter %_nompi.c,$(ALL_C))
NOCUDA_C:= $(filter %_nocuda.c,$(ALL_C))
LIB_C   := $(filter-out $(CLI_C) $(MPI_C) $(CUDA_C) $(NOMPI_C) $(NOCUDA_C),$(ALL_C))

ifeq ($(MPI),1)
CC      := mpicc
LIB_C   += $(MPI_C)
CFLAGS  += -DBB_HAVE_MPI=1
else
LIB_C   += $(NOMPI_C)
endif
CU_SRC  := $(shell find src -name '*.cu' 2>/dev/null | sort)
ifeq ($(CUDA),1)
LIB_C   += $(CUDA_C)
CFLAGS  += -DBB_HAVE_CUDA=1 $(addprefix -isystem ,$(CUDA_INC))
NVCC    ?= $(CUDA_HOME)/bin/nvcc
NVFLAGS ?= -O3 -std=c++17 -arch=$(CUDA_ARCH) -Iinclude -Isrc $(addprefix -isystem ,$(CUDA_INC)) \
           --compiler-options -Wall $(if $(WERROR),-Werror all-warnings -Xcompiler -Werror)
LDLIBS  += $(addprefix -L,$(CUDA_LIB)) $(addprefix -Wl$(comma)-rpath$(comma),$(CUDA_LIB)) \
           -lcudnn -lcublas $(if $(filter 1,$(NCCL)),-lnccl) -lcudart -lstdc++
ifneq ($(NCCL),1)
CFLAGS  += -DBB_NO_NCCL=1
endif
CU_OBJ  := $(CU_SRC:%.cu=$(BUILD)/%.cu.o)
else
LIB_C   += $(NOCUDA_C)
CU_OBJ  :=
endif

LIB_OBJ := $(LIB_C:%.c=$(BUILD)/%.o) $(CU_OBJ)
CLI_OBJ := $(CLI_C:%.c=$(BUILD)/%.o)
TEST_C  := $(sort $(wildcard tests/*.c))
TEST_OBJ:= $(TEST_C:%.c=$(BUILD)/%.o)
# the fuzz targets' entry points: linked into bb_tests, which replays the
# stored corpus through them (with the CLI objects the flag parser needs)
FUZZ_C  := $(sort $(wildcard fuzz/*.c))
FUZZ_OBJ:= $(FUZZ_C:%.c=$(BUILD)/%.o)
CLI_LIB_OBJ := $(filter-out $(BUILD)/src/cli/main.o,$(CLI_OBJ))
BENCH_C := $(sort $(wildcard bench/*.c))
BENCH_BIN := $(BENCH_C:bench/%.c=$(BUILD)/bench_%)
# programs run under mpirun by tests/sh/mpi_*.sh (MPI builds only)
MPITEST_C := $(sort $(wildcard tests/mpi/*.c))
MPITEST_BIN := $(if $(filter 1,$(MPI)),$(MPITEST_C:tests/mpi/%.c=$(BUILD)/bb_mpi_%))

.PHONY: all test clean info bench bench-onednn install
all: info $(BUILD)/bigbatch $(BUILD)/bb_tests $(BENCH_BIN) $(MPITEST_BIN)

info:
	@echo "bigbatch build: MPI=$(MPI) CUDA=$(CUDA)$(if $(CUDA_SUFFIX), ($(CUDA_ARCH))) SAN=$(SAN) CC=$(CC) OPT=$(OPT) $(ARCH) -> $(BUILD)/"

$(BUILD)/libbigbatch.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/bigbatch: $(CLI_OBJ) $(BUILD)/libbigbatch.a
	$(CC) $(LDFLAGS_SAN) $(LDFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libbigbatch.a $(LDLIBS)

# Every `TEST(name)` in tests/*.c is registered by this generated list.
$(BUILD)/tests/registry.h: $(TEST_C)
	@mkdir -p $(dir $@)
	@sed -n 's/^TEST(\([A-Za-z0-9_]*\)).*/\1/p' $(TEST_C) > $@.names
	@{ sed 's/.*/void test_&(void);/' $@.names; echo 'static const bb_test_entry bb_test_registry[] = {'; \
	   sed 's/.*/    {"&", test_&},/' $@.names; echo '    {0, 0}};'; } > $@.tmp && mv $@.tmp $@ && rm -f $@.names

$(BUILD)/tests/main.o: $(BUILD)/tests/registry.h
$(BUILD)/bb_tests: $(TEST_OBJ) $(FUZZ_OBJ) $(CLI_LIB_OBJ) $(BUILD)/libbigbatch.a
	$(CC) $(LDFLAGS_SAN) $(LDFLAGS) -o $@ $(TEST_OBJ) $(FUZZ_OBJ) $(CLI_LIB_OBJ) $(BUILD)/libbigbatch.a $(LDLIBS)

$(BUILD)/bench_%: $(BUILD)/bench/%.o $(BUILD)/libbigbatch.a
	$(CC) $(LDFLAGS_SAN) $(LDFLAGS) -o $@ $< $(BUILD)/libbigbatch.a $(LDLIBS)

# oneDNN against the direct kernels (needs libdnnl-dev; not part of all)
bench-onednn: $(BUILD)/bench_onednn
$(BUILD)/bench_onednn: $(BUILD)/bench/onednn/conv_onednn.o $(BUILD)/libbigbatch.a
	$(CC) $(LDFLAGS_SAN) $(LDFLAGS) -o $@ $< $(BUILD)/libbigbatch.a -ldnnl $(LDLIBS)

$(BUILD)/bb_mpi_%: $(BUILD)/tests/mpi/%.o $(BUILD)/libbigbatch.a
	$(CC) $(LDFLAGS_SAN) $(LDFLAGS) -o $@ $< $(BUILD)/libbigbatch.a $(LDLIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -I$(BUILD)/tests -c -o $@ $<

$(BUILD)/%.cu.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVFLAGS) -MMD -MP -MF $(@:.o=.d) -c -o $@ $<

test: all
	BB_BUILD=$(BUILD) scripts/run_tests.sh

# `make install PREFIX=DIR` (default /usr/local; DESTDIR for staging): the
# static library, include/bigbatch.h, the command, and lib/pkgconfig/bigbatch.pc.
# The library is static, so the .pc lists every library a link needs (BLAS,
# image codecs, MPI and CUDA when built with them) in Libs: a plain
# `pkg-config --libs bigbatch` links.
PREFIX  ?= /usr/local
VERSION := 0.1.0
PC_LIBS := $(LDFLAGS_SAN) $(LDLIBS) $(if $(filter 1,$(MPI)),$(shell mpicc --showme:link 2>/dev/null))
install: $(BUILD)/libbigbatch.a $(BUILD)/bigbatch
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/bin
	install -m 644 $(BUILD)/libbigbatch.a $(DESTDIR)$(PREFIX)/lib/
	install -m 644 include/bigbatch.h $(DESTDIR)$(PREFIX)/include/
	install -m 755 $(BUILD)/bigbatch $(DESTDIR)$(PREFIX)/bin/
	printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$${prefix}/lib' 'includedir=$${prefix}/include' '' \
	  'Name: bigbatch' 'Description: ResNet training with large-minibatch synchronous SGD' 'Version: $(VERSION)' \
	  'Cflags: -I$${includedir}' 'Libs: -L$${libdir} -lbigbatch $(PC_LIBS)' \
	  > $(DESTDIR)$(PREFIX)/lib/pkgconfig/bigbatch.pc

clean:
	rm -rf build build-san build-tsan build-fuzz build-cuda build-san-cuda build-tsan-cuda

include fuzz/fuzz.mk

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
