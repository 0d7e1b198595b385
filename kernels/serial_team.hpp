#pragma once
// A Kokkos::Serial team of one thread owned by one host thread: runs a team kernel's body
// (a functor taking TeamPolicy<Serial>::member_type, e.g. two_views_body) over a range of
// league indices exactly as Serial's parallel_for would, but with its own scratch, so several
// threads can run sub-batches at once. Kokkos 3.x/4.x Serial keeps one global scratch buffer
// and its dispatch is not safe from several threads (augment.threads, augment_threads.hpp).
// Built from Kokkos' own host team types (HostThreadTeamData, HostThreadTeamMember), set up
// as serial_resize_thread_team_data does for Serial itself.
#include <Kokkos_Core.hpp>

#include <cstddef>
#include <cstdint>
#include <vector>

#if defined(KOKKOS_ENABLE_SERIAL)

namespace skyssl::kernels {

class serial_team {
 public:
  using member_t = Kokkos::TeamPolicy<Kokkos::Serial>::member_type;
  serial_team() = default;
  ~serial_team() { release(); }
  serial_team(const serial_team&) = delete;
  serial_team& operator=(const serial_team&) = delete;

  // Runs body(member) for league indices [lo, hi) of a league of `league`, with
  // `team_shared_bytes` of team scratch (level 0 + 1 + per-thread, as TeamPolicy adds them).
  template <class Body>
  void run(const Body& body, int lo, int hi, int league, std::size_t team_shared_bytes) {
    reserve(team_shared_bytes);
    for (int n = lo; n < hi; ++n) body(member_t(data_, n, league));
  }

 private:
  static constexpr int reduce_bytes = 512;  // Serial's TEAM_REDUCE_SIZE
  Kokkos::Impl::HostThreadTeamData data_;
  std::vector<std::int64_t> buffer_;
  std::size_t shared_ = 0;
  bool organized_ = false;

  void reserve(std::size_t team_shared_bytes) {
    if (organized_ && team_shared_bytes <= shared_) return;
    release();
    shared_ = team_shared_bytes;
    const std::size_t bytes = Kokkos::Impl::HostThreadTeamData::scratch_size(
        reduce_bytes, reduce_bytes, static_cast<int>(shared_), 0);
    buffer_.assign((bytes + sizeof(std::int64_t) - 1) / sizeof(std::int64_t), 0);
    data_.scratch_assign(buffer_.data(), bytes, reduce_bytes, reduce_bytes,
                         static_cast<int>(shared_), 0);
    Kokkos::Impl::HostThreadTeamData* pool[1] = {&data_};
    Kokkos::Impl::HostThreadTeamData::organize_pool(pool, 1);
    data_.organize_team(1);
    organized_ = true;
  }
  void release() {
    if (!organized_) return;
    data_.disband_team();
    data_.disband_pool();
    organized_ = false;
  }
};

}  // namespace skyssl::kernels

#endif  // KOKKOS_ENABLE_SERIAL
