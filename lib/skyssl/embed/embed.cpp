#include "skyssl/embed/embed.hpp"

#include <fmt/format.h>
#include <torch/types.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "kernels/augment.hpp"
#include "skyssl/core/error.hpp"
#include "skyssl/core/log.hpp"
#include "skyssl/dist/communicator.hpp"
#include "skyssl/embed/archive_fields.hpp"
#include "skyssl/embed/embedding_file.hpp"

namespace skyssl::embed {

namespace {

torch::nn::SequentialImpl* head_of(model::resnet& encoder) {
  for (const auto& item : encoder->named_children())
    if (item.key() == "fc") return item.value()->as<torch::nn::SequentialImpl>();
  return nullptr;
}

void check_bands(const data::archive& archive, const kernels::augment_config& augment) {
  if (archive.channels() != augment.bands)
    throw config_error(fmt::format(
        "the archive has {} bands but the augmentation config has {} ('{}'): set augment.preset "
        "or augment.bands to match",
        archive.channels(), augment.bands, augment.band_names));
}

std::string eta_text(double s) {
  if (!(s >= 0) || s > 1e7) return "?";
  const auto t = static_cast<long>(s + 0.5);
  return t >= 3600 ? fmt::format("{}h{:02}m", t / 3600, t % 3600 / 60)
                   : fmt::format("{}m{:02}s", t / 60, t % 60);
}

}  // namespace

encoder_outputs encode(model::resnet& encoder, const torch::Tensor& crops, std::int64_t chunk,
                       bool with_projection) {
  torch::NoGradGuard no_grad;
  const bool was_training = encoder->is_training();
  encoder->eval();
  auto* head = with_projection ? head_of(encoder) : nullptr;
  if (with_projection && (!head || encoder->options().head_dim <= 0))
    throw config_error("the model has no projection head (model.head_dim / moco.dim)");
  const auto device = encoder->parameters()[0].device();
  std::vector<torch::Tensor> f, p;
  for (std::int64_t s = 0; s < crops.size(0); s += chunk) {
    auto x = crops.narrow(0, s, std::min(chunk, crops.size(0) - s)).to(device);
    auto feats = encoder->features(x);
    if (head) p.push_back(head->forward(feats).cpu());
    f.push_back(feats.cpu());
  }
  encoder->train(was_training);
  encoder_outputs out;
  out.backbone = torch::cat(f);
  if (head) out.projection = torch::cat(p);
  return out;
}

encoder_outputs embed_archive(model::resnet& encoder, const data::archive& archive,
                              const kernels::augment_config& augment, std::int64_t chunk,
                              bool with_projection, std::int64_t n) {
  check_bands(archive, augment);
  n = n > 0 ? std::min(n, archive.size()) : archive.size();
  std::vector<torch::Tensor> f, p;
  auto batch = torch::empty({chunk, archive.channels(), archive.height(), archive.width()});
  for (std::int64_t s = 0; s < n; s += chunk) {
    const std::int64_t m = std::min(chunk, n - s);
    auto images = batch.narrow(0, 0, m);
    archive.read_images(s, m, images.data_ptr<float>());
    auto out = encode(encoder, kernels::center_crop(augment, images), chunk, with_projection);
    f.push_back(out.backbone);
    if (with_projection) p.push_back(out.projection);
  }
  encoder_outputs out;
  out.backbone = torch::cat(f);
  if (with_projection) out.projection = torch::cat(p);
  return out;
}

std::string weights_digest(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw error(fmt::format("cannot read weights file '{}'", path));
  std::uint64_t h = 1469598103934665603ull;
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    for (std::streamsize i = 0; i < in.gcount(); ++i) {
      h ^= static_cast<unsigned char>(buf[static_cast<std::size_t>(i)]);
      h *= 1099511628211ull;
    }
  }
  return fmt::format("fnv1a64:{:016x}", h);
}

std::string model_description(const model::resnet_options& o) {
  return fmt::format("resnet{} width={} in_channels={} stem={} head={}", o.depth, o.width,
                     o.in_channels, o.sdss_stem ? "sdss" : "standard", o.head_dim);
}

embed_report embed_to_file(model::resnet& encoder, const data::archive& archive,
                           const kernels::augment_config& augment, const embed_options& o,
                           dist::communicator& comm) {
  check_bands(archive, augment);
  const auto& mo = encoder->options();
  if (!o.backbone && !o.projection) throw config_error("embed: nothing to write (--what)");
  if (o.projection && mo.head_dim <= 0)
    throw config_error(
        "embed: the model has no projection head; use --what backbone (or set moco.dim)");
  if (o.chunk < 1) throw config_error(fmt::format("embed: --chunk {} must be >= 1", o.chunk));
  embedding_header h;
  h.arch = fmt::format("resnet{}", mo.depth);
  h.model = model_description(mo);
  for (const auto& f : archive.files()) h.source += (h.source.empty() ? "" : ",") + f.path;
  h.weights = o.weights;
  h.weights_digest = o.weights_digest;
  h.rows = archive.size();
  h.backbone_dim = o.backbone ? encoder->feature_dim() : 0;
  h.projection_dim = o.projection ? mo.head_dim : 0;
  h.chunk_rows = o.chunk;

  for (const auto& f : archive.files()) {
    std::error_code ec;
    if (std::filesystem::equivalent(o.out, f.path, ec))
      throw config_error(fmt::format(
          "--out '{}' is a file of the archive being embedded; choose another --out", o.out));
  }
  const archive_fields fields(archive, o.fields);
  embedding_writer writer(o.out, h, fields.columns(), comm.world() > 1);
  const auto done = writer.done_chunks();
  // Every rank has read the same progress before any rank writes a chunk.
  comm.barrier();
  std::vector<std::int64_t> mine;
  std::int64_t todo = 0;
  for (std::int64_t c = 0; c < h.chunks(); ++c)
    if (!done[c]) {
      if (todo % comm.world() == comm.rank()) mine.push_back(c);
      ++todo;
    }
  embed_report r;
  r.rows = h.rows;
  r.chunks = h.chunks();
  r.chunks_done_before = h.chunks() - todo;
  if (comm.rank() == 0) {
    if (writer.resumed())
      log::info("embed: resuming '{}': {} of {} chunks already written", o.out,
                r.chunks_done_before, r.chunks);
    log::info("embed: {} rows of '{}' in {} chunks of {} on {} rank(s) -> '{}'", h.rows, h.source,
              todo, o.chunk, comm.world(), o.out);
  }

  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  auto batch = torch::empty({o.chunk, archive.channels(), archive.height(), archive.width()});
  std::vector<std::vector<char>> field_rows;
  std::int64_t rows_here = 0, written = 0;
  double next_report = 10.0;
  for (const auto c : mine) {
    const std::int64_t start = c * o.chunk, m = std::min(o.chunk, h.rows - c * o.chunk);
    auto images = batch.narrow(0, 0, m);
    archive.read_images(start, m, images.data_ptr<float>());
    const auto out = encode(encoder, kernels::center_crop(augment, images), o.chunk, o.projection);
    fields.read(start, m, field_rows);
    std::vector<const void*> ptrs;
    for (const auto& f : field_rows) ptrs.push_back(f.data());
    const auto b = o.backbone ? out.backbone.contiguous() : torch::Tensor();
    const auto p = o.projection ? out.projection.contiguous() : torch::Tensor();
    writer.write_chunk(c, o.backbone ? b.data_ptr<float>() : nullptr,
                       o.projection ? p.data_ptr<float>() : nullptr, ptrs);
    rows_here += m;
    ++written;
    if (o.stop_after > 0 && written == o.stop_after) {
      log::info("embed: stopping after {} chunks as asked (--stop-after), like a crash", written);
      std::_Exit(86);
    }
    const double t = elapsed();
    if (comm.rank() == 0 && t > next_report) {
      const double rate = rows_here / t;
      const auto left = static_cast<double>(mine.size() - written);
      log::info("embed: {}/{} chunks on rank 0, {:.0f} images/s per rank, ETA {}", written,
                mine.size(), rate, eta_text(left * t / written));
      next_report = t + 10.0;
    }
  }
  writer.close();
  auto totals = torch::tensor({static_cast<double>(rows_here)}, torch::kFloat64);
  comm.all_reduce_sum(totals);
  auto times = comm.all_gather(torch::tensor(elapsed(), torch::kFloat64));
  r.rows_embedded = static_cast<std::int64_t>(totals.item<double>());
  r.seconds = times.max().item<double>();
  r.images_per_s = r.seconds > 0 ? r.rows_embedded / r.seconds : 0.0;
  return r;
}

}  // namespace skyssl::embed
