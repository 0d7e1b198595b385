// libFuzzer: the embedding-file reader (eval/embedding_reader) over files made by the
// structure-aware generator (common/h5_builder): the marker attribute of any kind, /backbone and
// /projection of any dims (0, 2^31, 2^62 rows, ...) and dtype, /progress with any chunk_rows and
// done length, /fields of any length and type, links. Each input opens the file, checks
// completeness, reads a few rows of each space, a column and a lookup by value. Checked: no
// memory error, no exception but skyssl::error, no huge allocation, no hang.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "skyssl/embed/embedding_reader.hpp"
#include "tests/fuzz/common/fuzz_support.hpp"
#include "tests/fuzz/common/h5_builder.hpp"

namespace fs = std::filesystem;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  const auto path = skyssl::fuzz::scratch() / "embeddings.h5";
  {
    skyssl::fuzz::h5_builder b(in, path);
    if (b.file() < 0) return 0;
    const hid_t f = b.file();
    if (in.ConsumeIntegralInRange<int>(0, 7) != 0) {  // mostly the right marker
      const hid_t s = H5Screate(H5S_SCALAR);
      const hid_t a = H5Acreate2(f, "skyssl_embedding", H5T_STD_I64LE, s, H5P_DEFAULT, H5P_DEFAULT);
      const std::int64_t one = in.ConsumeIntegralInRange<int>(0, 9) == 0 ? 2 : 1;
      H5Awrite(a, H5T_NATIVE_INT64, &one);
      H5Aclose(a);
      H5Sclose(s);
    } else {
      b.attribute(f, "skyssl_embedding");
    }
    for (const char* a : {"arch", "source", "model"})
      if (in.ConsumeBool()) b.attribute(f, a);
    const hsize_t rows = b.dim();
    for (const char* space : {"backbone", "projection"}) {
      if (!in.ConsumeBool()) continue;
      std::vector<hsize_t> dims = {in.ConsumeIntegralInRange<int>(0, 5) == 0 ? b.dim() : rows,
                                   b.dim()};
      if (in.ConsumeIntegralInRange<int>(0, 7) == 0) dims.push_back(2);
      b.dataset(f, space, dims, in.ConsumeIntegralInRange<int>(0, 3) == 0 ? -1 : H5T_IEEE_F32LE);
    }
    if (in.ConsumeBool()) {
      const hid_t g = H5Gcreate2(f, "progress", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
      b.attribute(g, "chunk_rows");
      if (in.ConsumeBool()) {
        const hid_t s = H5Screate(H5S_SCALAR);
        const hid_t a = H5Acreate2(g, "chunk_rows", H5T_STD_I64LE, s, H5P_DEFAULT, H5P_DEFAULT);
        const std::int64_t cr = in.ConsumeIntegralInRange<std::int64_t>(-2, 70);
        if (a >= 0) {
          H5Awrite(a, H5T_NATIVE_INT64, &cr);
          H5Aclose(a);
        }
        H5Sclose(s);
      }
      b.dataset(g, "done", {in.ConsumeBool() ? b.dim() : rows / 4 + 1}, H5T_STD_U8LE);
      H5Gclose(g);
    }
    if (in.ConsumeBool()) {
      const hid_t g = H5Gcreate2(f, "fields", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
      const int n = in.ConsumeIntegralInRange<int>(0, 3);
      for (int k = 0; k < n; ++k) {
        const char* names[] = {"objid", "ra", "z"};
        b.dataset(g, names[k], {in.ConsumeBool() ? rows : b.dim()});
      }
      H5Gclose(g);
    }
    if (in.ConsumeIntegralInRange<int>(0, 5) == 0) b.foreign(f, "backbone_link", path);
  }
  skyssl::fuzz::expect_no_open_h5("the generator");
  skyssl::fuzz::expect_only_skyssl_errors([&] {
    const skyssl::embed::embedding_reader r(path);
    r.chunks_done();
    for (const auto& space : r.spaces()) {
      const std::int64_t n = std::min<std::int64_t>(r.rows(), 3);
      std::vector<float> out(static_cast<std::size_t>(n) * static_cast<std::size_t>(r.dim(space)));
      r.read(space, 0, n, out.data());
    }
    for (const auto& field : r.fields()) {
      if (r.rows() > 0) r.field_text(field, 0);
      r.find(field, "1");
      break;
    }
    r.require_complete();
    if (!r.spaces().empty()) r.read_all(r.spaces().front());
  });
  skyssl::fuzz::expect_no_open_h5("the embedding reader");
  return 0;
}
