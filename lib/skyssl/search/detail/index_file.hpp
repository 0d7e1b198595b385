#pragma once
// Reading a FAISS index file from someone else without trusting it (issue 19). FAISS's own
// read_index follows whatever the file says: on-disk inverted lists name another file to map,
// a 100-byte file can declare 2^40 elements (allocated and zero-filled before any read), and
// list ids and graph links are used unchecked during search. Here:
//   - the file is read with IO_FLAG_READ_ONLY through a reader that knows the file's size: a
//     count larger than the bytes left is refused before FAISS allocates for it, and inverted
//     lists are read by our own hook that checks their sizes first (so no named file is ever
//     mapped: on-disk lists come back unmapped and are refused);
//   - only the index types skyssl builds are accepted, and their structure (ntotal, d, nlist,
//     list ids, code sizes, HNSW links) is checked before the index is used.
// Every failure is a data_error naming the file; std::bad_alloc never escapes.
#include <faiss/Index.h>

#include <filesystem>
#include <memory>

namespace skyssl::search::detail {

// The index in `path`, read and checked as above.
std::unique_ptr<faiss::Index> read_index_file(const std::filesystem::path& path);

// Throws data_error naming `path` unless `ix` is one of skyssl's kinds (Flat, IVF-Flat,
// IVF-SQ8, IVF-PQ with or without Refine(SQ8/SQfp16/Flat), HNSW-Flat) with an inner-product
// metric and a consistent structure. Linear in the index size.
void check_index_structure(const faiss::Index& ix, const std::filesystem::path& path);

}  // namespace skyssl::search::detail
