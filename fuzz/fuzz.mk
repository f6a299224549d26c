# libFuzzer binaries, one per fuzz/fuzz_<name>.c: `make fuzz` builds
# build-fuzz/fuzz_<name> with clang, -fsanitize=fuzzer,address,undefined and
# MPI off. scripts/fuzz.sh runs them. Included by the Makefile.
FUZZ_TARGETS := $(patsubst fuzz/fuzz_%.c,%,$(wildcard fuzz/fuzz_*.c))
FUZZ_COMMON  := fuzz/common.c

.PHONY: fuzz fuzzers
fuzz:
	$(MAKE) SAN=fuzz fuzzers

ifeq ($(SAN),fuzz)
fuzzers: info $(FUZZ_TARGETS:%=$(BUILD)/fuzz_%)

$(BUILD)/fuzz_%: $(BUILD)/fuzz/fuzz_%.o $(FUZZ_COMMON:%.c=$(BUILD)/%.o) $(CLI_LIB_OBJ) $(BUILD)/libbigbatch.a
	$(CC) $(LDFLAGS_SAN) -o $@ $^ $(LDLIBS)
endif
