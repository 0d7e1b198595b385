#include "skyssl/dist/nccl_communicator.hpp"

#include <cuda_runtime_api.h>
#include <fmt/format.h>
#include <mpi.h>
#include <nccl.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "skyssl/core/error.hpp"
#include "skyssl/core/log.hpp"
#include "skyssl/dist/device.hpp"

// The raw CUDA runtime API only: LibTorch may be a CPU-only build (as here), so c10::cuda is
// not available; tensors are reached through data_ptr().
namespace skyssl::dist {
namespace {

void cuda_check(cudaError_t rc, const char* what) {
  if (rc != cudaSuccess)
    throw dist_error(
        fmt::format("{} failed: {} ({})", what, cudaGetErrorString(rc), cudaGetErrorName(rc)));
}

void nccl_check(ncclResult_t rc, const char* what) {
  if (rc != ncclSuccess)
    throw dist_error(fmt::format("{} failed: {}", what, ncclGetErrorString(rc)));
}

ncclDataType_t nccl_type(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat32:
      return ncclFloat32;
    case torch::kFloat64:
      return ncclFloat64;
    case torch::kFloat16:
      return ncclFloat16;
#if NCCL_VERSION_CODE >= NCCL_VERSION(2, 10, 0)
    case torch::kBFloat16:
      return ncclBfloat16;
#endif
    case torch::kInt64:
      return ncclInt64;
    case torch::kInt32:
      return ncclInt32;
    case torch::kUInt8:
      return ncclUint8;
    case torch::kInt8:
      return ncclInt8;
    default:
      throw dist_error(fmt::format("NCCL communicator: unsupported dtype {}",
                                   std::string(c10::toString(t.scalar_type()))));
  }
}

std::string describe(const torch::Tensor& t) {
  return fmt::format("{} x {}", t.numel(), std::string(c10::toString(t.scalar_type())));
}

class nccl_communicator;

class nccl_pending final : public pending_op {
 public:
  nccl_pending(nccl_communicator& c, cudaEvent_t ev, std::string what)
      : comm_(c), ev_(ev), what_(std::move(what)) {}
  ~nccl_pending() override;
  bool test() override;
  void wait() override;

 private:
  nccl_communicator& comm_;
  cudaEvent_t ev_;
  std::string what_;
  bool done_ = false;
};

class nccl_communicator final : public communicator {
 public:
  explicit nccl_communicator(int device) {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &world_);
    // Everything that can fail on one rank alone comes first, then all ranks agree: a rank
    // that threw before the bootstrap would leave the others waiting in MPI_Bcast forever.
    std::string failure;
    try {
      set_up_device(device);
    } catch (const std::exception& e) {
      failure = e.what();
    }
    int ok = failure.empty() ? 1 : 0, all_ok = 0;
    if (MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD) != MPI_SUCCESS)
      throw dist_error("NCCL bootstrap: MPI_Allreduce of the setup outcome failed");
    if (!all_ok) {
      release();
      throw dist_error(failure.empty() ? fmt::format("NCCL setup failed on another rank (its "
                                                     "message names the cause); rank {} was ready",
                                                     rank_)
                                       : failure);
    }
    ncclUniqueId id;
    ok = rank_ != 0 || ncclGetUniqueId(&id) == ncclSuccess;
    if (MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD) != MPI_SUCCESS || !all_ok)
      throw dist_error("NCCL bootstrap: ncclGetUniqueId failed on rank 0");
    if (MPI_Bcast(&id, sizeof(id), MPI_BYTE, 0, MPI_COMM_WORLD) != MPI_SUCCESS)
      throw dist_error("NCCL bootstrap: MPI_Bcast of the ncclUniqueId failed");
    const ncclResult_t rc = ncclCommInitRank(&comm_, world_, id, rank_);
    if (rc != ncclSuccess) {
      // The other ranks are inside ncclCommInitRank and only an abort reaches them.
      comm_ = nullptr;
      abort(fmt::format("NCCL bootstrap: ncclCommInitRank failed on rank {} (cuda:{}): {}", rank_,
                        device_, ncclGetErrorString(rc)),
            1);
    }
  }

  ~nccl_communicator() override {
    if (comm_) ncclCommDestroy(comm_);
    release();
  }

  std::string backend() const override { return "nccl"; }
  int rank() const override { return rank_; }
  int world() const override { return world_; }

  void all_reduce_sum(torch::Tensor& t) override {
    staged s = stage(t, "all_reduce", t.nbytes());
    nccl_check(ncclAllReduce(s.ptr, s.ptr, t.numel(), nccl_type(t), ncclSum, live(), stream_),
               "ncclAllReduce");
    unstage(t, s, t.nbytes(), "all_reduce_sum (ncclAllReduce of " + describe(t) + ")");
  }

  std::unique_ptr<pending_op> start_all_reduce_sum(torch::Tensor& t) override {
    if (!t.defined() || !t.is_cuda()) {
      all_reduce_sum(t);  // staged: synchronous
      return std::make_unique<nccl_pending>(*this, nullptr, "");
    }
    staged s = stage(t, "start_all_reduce_sum", t.nbytes());
    nccl_check(ncclAllReduce(s.ptr, s.ptr, t.numel(), nccl_type(t), ncclSum, live(), stream_),
               "ncclAllReduce");
    cudaEvent_t ev = nullptr;
    cuda_check(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming), "cudaEventCreate");
    cuda_check(cudaEventRecord(ev, stream_), "cudaEventRecord");
    return std::make_unique<nccl_pending>(
        *this, ev, "start_all_reduce_sum (ncclAllReduce of " + describe(t) + ")");
  }

  torch::Tensor all_gather(const torch::Tensor& t_in) override {
    torch::Tensor t = t_in.contiguous();
    std::vector<int64_t> shape(t.sizes().begin(), t.sizes().end());
    if (shape.empty()) shape.push_back(1);
    shape[0] *= world_;
    const std::size_t in_bytes = t.nbytes(), out_bytes = in_bytes * world_;
    torch::Tensor out;
    if (t.is_cuda()) {
      check_device(t, "all_gather");
      out = empty_device(shape, t);
      sync_with_producer();
      nccl_check(
          ncclAllGather(t.data_ptr(), out.data_ptr(), t.numel(), nccl_type(t), live(), stream_),
          "ncclAllGather");
    } else {
      // CPU: stage input and output in one scratch buffer [out | in], through pinned memory.
      check_cpu(t, "all_gather");
      out = torch::empty(shape, t.options());
      char* base = static_cast<char*>(scratch(out_bytes + in_bytes));
      char* host = static_cast<char*>(pinned(out_bytes + in_bytes));
      std::memcpy(host + out_bytes, t.data_ptr(), in_bytes);
      cuda_check(cudaMemcpyAsync(base + out_bytes, host + out_bytes, in_bytes,
                                 cudaMemcpyHostToDevice, stream_),
                 "cudaMemcpyAsync");
      nccl_check(ncclAllGather(base + out_bytes, base, t.numel(), nccl_type(t), live(), stream_),
                 "ncclAllGather");
      cuda_check(cudaMemcpyAsync(host, base, out_bytes, cudaMemcpyDeviceToHost, stream_),
                 "cudaMemcpyAsync");
      wait_stream("all_gather (ncclAllGather of " + describe(t) + ")");
      std::memcpy(out.data_ptr(), host, out_bytes);
      return out;
    }
    wait_stream("all_gather (ncclAllGather of " + describe(t) + ")");
    return out;
  }

  void broadcast(torch::Tensor& t, int root) override {
    if (root < 0 || root >= world_)
      throw dist_error(fmt::format("broadcast: root {} outside world of {}", root, world_));
    staged s = stage(t, "broadcast", t.nbytes());
    nccl_check(ncclBroadcast(s.ptr, s.ptr, t.numel(), nccl_type(t), root, live(), stream_),
               "ncclBroadcast");
    unstage(t, s, t.nbytes(), "broadcast (ncclBroadcast of " + describe(t) + ")");
  }

  void barrier() override {
    // An all-reduce of one word on our stream: ordered after every collective issued before.
    void* p = scratch(sizeof(float));
    nccl_check(ncclAllReduce(p, p, 1, ncclFloat32, ncclSum, live(), stream_), "ncclAllReduce");
    wait_stream("barrier (ncclAllReduce of 1 float)");
  }

  [[noreturn]] void abort(const std::string& message, int exit_code) override {
    log::write_error(message);
    std::fflush(stderr);
    // Unblock kernels waiting on dead peers, then take the whole job down through MPI.
    if (comm_) ncclCommAbort(comm_);
    comm_ = nullptr;
    MPI_Abort(MPI_COMM_WORLD, exit_code);
    std::_Exit(exit_code);
  }

  // Wait for work on our stream: blocking, or polled against the watchdog deadline with
  // NCCL's asynchronous error check (a dead peer shows up there, not as a CUDA error).
  void wait_event_or_stream(cudaEvent_t ev, const std::string& what) {
    auto query = [&] { return ev ? cudaEventQuery(ev) : cudaStreamQuery(stream_); };
    if (timeout_s_ <= 0) {
      cuda_check(ev ? cudaEventSynchronize(ev) : cudaStreamSynchronize(stream_), what.c_str());
      return;
    }
    using clock = std::chrono::steady_clock;
    const auto deadline = clock::now() + std::chrono::duration<double>(timeout_s_);
    for (;;) {
      const cudaError_t rc = query();
      if (rc == cudaSuccess) return;
      if (rc != cudaErrorNotReady) cuda_check(rc, what.c_str());
      ncclResult_t async_rc = ncclSuccess;
      nccl_check(ncclCommGetAsyncError(comm_, &async_rc), "ncclCommGetAsyncError");
      if (async_rc != ncclSuccess && async_rc != ncclInProgress) {
        ncclCommAbort(comm_);
        comm_ = nullptr;
        throw dist_error(
            fmt::format("{} failed on rank {}: {}", what, rank_, ncclGetErrorString(async_rc)));
      }
      if (clock::now() > deadline) {
        ncclCommAbort(comm_);
        comm_ = nullptr;
        throw dist_error(fmt::format(
            "dist watchdog: {} did not complete within dist.timeout_s = {} s on rank {}; "
            "another rank has died or stalled",
            what, timeout_s_, rank_));
      }
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }

 private:
  struct staged {
    void* ptr = nullptr;
    bool host = false;
  };

  void check_cpu(const torch::Tensor& t, const char* what) {
    if (!t.defined() || !t.is_contiguous())
      throw dist_error(fmt::format("{} (nccl): tensor must be defined and contiguous", what));
  }
  void check_device(const torch::Tensor& t, const char* what) {
    check_cpu(t, what);
    if (t.device().index() >= 0 && t.device().index() != device_)
      throw dist_error(fmt::format("{} (nccl): tensor on {} but this rank's device is cuda:{}",
                                   what, t.device().str(), device_));
  }

  // Our stream is non-blocking, so it must wait for the kernels that produced the tensor.
  // LibTorch launches them on the legacy default stream unless a caller changed the current
  // stream (not done in skyssl).
  void sync_with_producer() {
    cuda_check(cudaEventRecord(producer_done_, cudaStreamLegacy), "cudaEventRecord");
    cuda_check(cudaStreamWaitEvent(stream_, producer_done_, 0), "cudaStreamWaitEvent");
  }

  staged stage(torch::Tensor& t, const char* what, std::size_t bytes) {
    if (t.defined() && t.is_cuda()) {
      check_device(t, what);
      sync_with_producer();
      return {t.data_ptr(), false};
    }
    // Host tensors go through a pinned buffer: cudaMemcpyAsync from pageable memory blocks the
    // host until the copy is done, and after a collective with a dead peer that is forever,
    // before the watchdog below could notice.
    check_cpu(t, what);
    void* p = scratch(bytes);
    void* host = pinned(bytes);
    std::memcpy(host, t.data_ptr(), bytes);
    cuda_check(cudaMemcpyAsync(p, host, bytes, cudaMemcpyHostToDevice, stream_), "cudaMemcpyAsync");
    return {p, true};
  }
  // Waits (polled, under the watchdog) for the collective, and copies a host tensor's result
  // back from the pinned buffer.
  void unstage(torch::Tensor& t, const staged& s, std::size_t bytes, const std::string& what) {
    if (s.host)
      cuda_check(cudaMemcpyAsync(pinned_, s.ptr, bytes, cudaMemcpyDeviceToHost, stream_),
                 "cudaMemcpyAsync");
    wait_stream(what);
    if (s.host) std::memcpy(t.data_ptr(), pinned_, bytes);
  }

  ncclComm_t live() const {
    if (!comm_) throw dist_error("NCCL communicator used after it was aborted");
    return comm_;
  }

  void* scratch(std::size_t bytes) {
    bytes = std::max<std::size_t>(bytes, 256);
    if (bytes > scratch_bytes_) {
      if (scratch_) {
        // Work queued on the old buffer must finish first: polled, so a dead peer surfaces
        // through the watchdog instead of blocking here.
        wait_stream("growing the NCCL staging buffer");
        cuda_check(cudaFree(scratch_), "cudaFree");
        scratch_ = nullptr;
      }
      cuda_check(cudaMalloc(&scratch_, bytes), "cudaMalloc (NCCL staging buffer)");
      scratch_bytes_ = bytes;
    }
    return scratch_;
  }
  // Pinned host memory of at least `bytes` for staging host tensors; callers have waited for
  // the stream before it is reused (every staged collective ends in wait_stream).
  void* pinned(std::size_t bytes) {
    bytes = std::max<std::size_t>(bytes, 256);
    if (bytes > pinned_bytes_) {
      if (pinned_) cuda_check(cudaFreeHost(pinned_), "cudaFreeHost");
      pinned_ = nullptr;
      cuda_check(cudaMallocHost(&pinned_, bytes), "cudaMallocHost (NCCL pinned staging buffer)");
      pinned_bytes_ = bytes;
    }
    return pinned_;
  }

  void set_up_device(int device) {
    const int ndev = cuda_device_count();
    if (ndev == 0)
      throw dist_error(fmt::format(
          "NCCL communicator on rank {}: no CUDA device visible (CUDA_VISIBLE_DEVICES='{}'); "
          "set dist.backend=mpi for a CPU run",
          rank_,
          std::getenv("CUDA_VISIBLE_DEVICES") ? std::getenv("CUDA_VISIBLE_DEVICES") : "<unset>"));
    device_ = device >= 0 ? device : 0;
    if (device_ >= ndev)
      throw dist_error(
          fmt::format("NCCL communicator on rank {}: device cuda:{} chosen but only "
                      "{} visible",
                      rank_, device_, ndev));
    cuda_check(cudaSetDevice(device_), "cudaSetDevice");
    cuda_check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
    cuda_check(cudaEventCreateWithFlags(&producer_done_, cudaEventDisableTiming),
               "cudaEventCreate");
    pinned(4096);
  }
  void release() {
    if (scratch_) cudaFree(scratch_);
    if (pinned_) cudaFreeHost(pinned_);
    if (producer_done_) cudaEventDestroy(producer_done_);
    if (stream_) cudaStreamDestroy(stream_);
    scratch_ = pinned_ = nullptr;
    producer_done_ = nullptr;
    stream_ = nullptr;
  }

  // A device tensor for results. A CUDA LibTorch allocates it (caching allocator); a CPU-only
  // LibTorch cannot, so the memory comes from cudaMalloc and is freed by the tensor's deleter.
  torch::Tensor empty_device(const std::vector<int64_t>& shape, const torch::Tensor& like) {
    if (at::hasCUDA()) return torch::empty(shape, like.options());
    std::int64_t n = 1;
    for (auto s : shape) n *= s;
    void* p = nullptr;
    cuda_check(cudaMalloc(&p, std::max<std::int64_t>(n, 1) * like.element_size()), "cudaMalloc");
    return wrap_device_memory(p, shape, like.scalar_type(), device_, [](void* q) { cudaFree(q); });
  }

  void wait_stream(const std::string& what) { wait_event_or_stream(nullptr, what); }

  int rank_ = 0, world_ = 1, device_ = 0;
  cudaStream_t stream_ = nullptr;
  cudaEvent_t producer_done_ = nullptr;
  ncclComm_t comm_ = nullptr;
  void* scratch_ = nullptr;
  std::size_t scratch_bytes_ = 0;
  void* pinned_ = nullptr;
  std::size_t pinned_bytes_ = 0;
};

nccl_pending::~nccl_pending() {
  if (ev_) {
    try {
      wait();
    } catch (...) {
    }
    cudaEventDestroy(ev_);
  }
}
bool nccl_pending::test() {
  if (done_ || !ev_) return true;
  done_ = cudaEventQuery(ev_) == cudaSuccess;
  return done_;
}
void nccl_pending::wait() {
  if (done_ || !ev_) return;
  comm_.wait_event_or_stream(ev_, what_);
  done_ = true;
}

}  // namespace

int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  return n;
}

std::unique_ptr<communicator> make_nccl_communicator(int device) {
  if (device < 0) device = cuda_device_for(local_rank());
  return std::make_unique<nccl_communicator>(device);
}

bool nccl_available() { return true; }

}  // namespace skyssl::dist
