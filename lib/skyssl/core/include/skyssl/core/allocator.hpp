#pragma once
// Keeps freed memory in the process. glibc hands every freed block above its mmap threshold
// back to the kernel, so LibTorch's per-step CPU temporaries (activations, gradients, views)
// are page-faulted in afresh on every step: on the development VM a MoCo step of the example
// took 208 ms with glibc's defaults and 75 ms with this (bench_train_step). Blocks up to 32 MiB
// stay on the heap and the heap is trimmed only above 1 GiB of free memory at its top.
namespace skyssl {

// Call once at the start of a program, before large allocations. Leaves the allocator alone
// (and returns false) when GLIBC_TUNABLES already sets malloc parameters, or outside glibc.
bool keep_freed_memory();

}  // namespace skyssl
