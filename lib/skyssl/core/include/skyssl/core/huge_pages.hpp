#pragma once
// Transparent huge pages for large, long-lived buffers (batches of images, augmented views).
// With 4 KiB pages the bilinear sampling of a 17 MB batch misses the TLB often enough that the
// augmentation ran 35% slower in some processes than in others (the difference was where the
// heap happened to lie); madvise(MADV_HUGEPAGE) removes that and cuts first-touch page faults
// 512-fold. Most kernels leave THP at "madvise", so nothing happens unless we ask.
#include <cstddef>

namespace skyssl {

// Asks the kernel to back the whole 2 MiB pages inside [p, p + bytes) with huge pages. Returns
// whether the request was accepted (false where THP is unsupported or off, or the range holds
// no whole page); a refusal only costs speed, so callers may ignore it.
bool advise_huge_pages(void* p, std::size_t bytes);

}  // namespace skyssl
