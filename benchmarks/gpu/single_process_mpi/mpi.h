// A world of one standing in for MPI in the minimal GPU-check build (benchmarks/gpu), which
// compiles lib/dist's runtime, device and NCCL sources unchanged on a machine without an MPI
// package. Only the calls those sources make, answering as rank 0 of 1: collectives copy their
// input, MPI_Abort exits. Never on the include path of the main build (docs/gpu.md).
#pragma once
#include <cstdio>
#include <cstdlib>
#include <cstring>

using MPI_Comm = int;
using MPI_Datatype = int;
using MPI_Op = int;
using MPI_Info = int;
using MPI_Errhandler = int;

inline constexpr MPI_Comm MPI_COMM_WORLD = 1;
inline constexpr int MPI_SUCCESS = 0;
inline constexpr int MPI_COMM_TYPE_SHARED = 1;
inline constexpr MPI_Info MPI_INFO_NULL = 0;
inline constexpr MPI_Errhandler MPI_ERRORS_RETURN = 1;
inline constexpr int MPI_THREAD_FUNNELED = 1;
inline constexpr MPI_Datatype MPI_BYTE = 1;  // the value is the element size in bytes
inline constexpr MPI_Datatype MPI_INT = static_cast<int>(sizeof(int));
inline constexpr MPI_Op MPI_MIN = 1;

namespace skyssl_single_process {
inline bool& initialized() {
  static bool v = false;
  return v;
}
inline bool& finalized() {
  static bool v = false;
  return v;
}
}  // namespace skyssl_single_process

inline int MPI_Initialized(int* flag) {
  *flag = skyssl_single_process::initialized();
  return MPI_SUCCESS;
}
inline int MPI_Finalized(int* flag) {
  *flag = skyssl_single_process::finalized();
  return MPI_SUCCESS;
}
inline int MPI_Init_thread(int*, char***, int required, int* provided) {
  skyssl_single_process::initialized() = true;
  *provided = required;
  return MPI_SUCCESS;
}
inline int MPI_Init(int*, char***) {
  skyssl_single_process::initialized() = true;
  return MPI_SUCCESS;
}
inline int MPI_Query_thread(int* provided) {
  *provided = MPI_THREAD_FUNNELED;
  return MPI_SUCCESS;
}
inline int MPI_Finalize() {
  skyssl_single_process::finalized() = true;
  return MPI_SUCCESS;
}
inline int MPI_Comm_set_errhandler(MPI_Comm, MPI_Errhandler) { return MPI_SUCCESS; }
inline int MPI_Comm_rank(MPI_Comm, int* rank) {
  *rank = 0;
  return MPI_SUCCESS;
}
inline int MPI_Comm_size(MPI_Comm, int* size) {
  *size = 1;
  return MPI_SUCCESS;
}
inline int MPI_Comm_split_type(MPI_Comm comm, int, int, MPI_Info, MPI_Comm* out) {
  *out = comm;
  return MPI_SUCCESS;
}
inline int MPI_Comm_free(MPI_Comm*) { return MPI_SUCCESS; }
// One rank: the reduction of one contribution is that contribution.
inline int MPI_Allreduce(const void* send, void* recv, int count, MPI_Datatype type, MPI_Op,
                         MPI_Comm) {
  if (send != recv) std::memmove(recv, send, static_cast<std::size_t>(count) * type);
  return MPI_SUCCESS;
}
inline int MPI_Bcast(void*, int, MPI_Datatype, int, MPI_Comm) { return MPI_SUCCESS; }
[[noreturn]] inline int MPI_Abort(MPI_Comm, int code) {
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(code);
}
