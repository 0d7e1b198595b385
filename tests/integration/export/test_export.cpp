// skyssl-export on a run skyssl-train wrote: the files load into Debian's torchvision ResNet
// (strict=True, parsed by hand in torchvision_check.py) and give skyssl's features; the
// exported file starts a new run (train.init_weights) with exactly its weights; a cutout of a
// galaxy, embedded on the fly by skyssl-search, finds that galaxy; bad inputs get one clear
// error. ~1 min on 2 cores (a ResNet-18 of torchvision's width trains 2 steps).
#include "tests/support/torch_doctest.hpp"  // torch, then doctest (glog's CHECK)

#include <fitsio.h>
#include <fmt/format.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "kernels/augment_config.hpp"
#include "kernels/kokkos_runtime.hpp"
#include "skyssl/core/config.hpp"
#include "skyssl/data/archive.hpp"
#include "skyssl/dist/local_communicator.hpp"
#include "skyssl/embed/cutout.hpp"
#include "skyssl/model/safetensors.hpp"
#include "skyssl/model/weights.hpp"
#include "skyssl/train/trainer.hpp"
#include "tests/integration/golden/golden_io.hpp"
#include "tests/support/embedding_files.hpp"
#include "tests/support/run_command.hpp"
#include "tests/support/test_paths.hpp"

namespace fs = std::filesystem;
using namespace skyssl;

namespace {

using result = test::command_result;
result run(const std::string& cmd) { return test::run_command(cmd); }

const fs::path& dir() {
  static const fs::path d = test::tmp_dir("export");
  return d;
}

// A 3-band survey and a torchvision-shaped ResNet-18 (width 64, standard stem) trained 2 steps.
const fs::path& trained_run() {
  static const fs::path run_dir = [] {
    const auto survey = dir() / "survey.h5";
    auto s = run(fmt::format("{} synth --out {} --count 64 --size 32 --seed 3",
                             skyssl::test::program("skyssl-prep"), survey.string()));
    REQUIRE_MESSAGE(s.status == 0, s.output);
    const auto r = dir() / "run";
    fs::remove_all(r);
    auto t = run(fmt::format(
        "{} --preset example --run-dir {} --set data.path={} --set augment.input_size=32 "
        "--set augment.crop=24 --set augment.jitter_max=2 --set model.width=64 "
        "--set moco.K=64 --set moco.bn_group=16 --set train.global_batch=16 "
        "--set train.max_steps=2 --set train_eval.enabled=false",
        skyssl::test::program("skyssl-train"), r.string(), survey.string()));
    REQUIRE_MESSAGE(t.status == 0, t.output);
    return r;
  }();
  return run_dir;
}

result export_to(const fs::path& out, const std::string& extra = "") {
  return run(fmt::format("{} --run-dir {} --out {} {}", skyssl::test::program("skyssl-export"),
                         trained_run().string(), out.string(), extra));
}

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  REQUIRE(a.sizes() == b.sizes());
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

}  // namespace

TEST_CASE("exported weights load into torchvision's resnet18 and give skyssl's features") {
  const auto backbone = dir() / "backbone.safetensors";
  const auto head = dir() / "head.safetensors";
  const auto sd = dir() / "backbone.pt";
  for (const auto& [out, extra] :
       {std::pair{backbone, ""}, std::pair{head, "--head"}, std::pair{sd, "--format state_dict"}}) {
    const auto e = export_to(out, extra);
    REQUIRE_MESSAGE(e.status == 0, e.output);
  }
  // skyssl's side, from the run directory as every tool loads it.
  auto encoder = model::load_run_encoder(trained_run());
  encoder->eval();
  torch::manual_seed(5);
  // Not centred on zero, so BN's running statistics matter.
  const auto x = torch::randn({4, 3, 24, 24}) * 0.5 + 0.2;
  torch::Tensor features, projection;
  {
    torch::NoGradGuard g;
    features = encoder->features(x);
    projection = encoder->forward(x);
  }
  // The backbone file holds torchvision's names and no head; the head file adds fc.0/fc.2.
  {
    model::string_map meta;
    const auto t = model::read_safetensors(backbone, &meta);
    CHECK(t.count("conv1.weight") == 1);
    CHECK(t.count("bn1.running_mean") == 1);
    CHECK(t.count("layer1.0.conv1.weight") == 1);
    CHECK(t.count("layer2.0.downsample.0.weight") == 1);
    CHECK(t.count("fc.0.weight") == 0);
    CHECK(meta["skyssl_arch"] == "resnet18");
    CHECK(model::read_safetensors(head).count("fc.2.weight") == 1);
  }
  const auto in = dir() / "in.pt", out = dir() / "out.pt";
  test::golden::save(in, {{"x", x}});
  const auto script = test::source_dir() / "tests/integration/export/torchvision_check.py";
  const auto py =
      run(fmt::format("'{}' '{}' '{}' '{}' '{}' '{}' '{}'", test::python(), script.string(),
                      backbone.string(), head.string(), sd.string(), in.string(), out.string()));
  INFO(py.output);
  REQUIRE(py.status == 0);
  const auto ref = test::golden::load(out);
  const double d_backbone = max_abs_diff(features, test::golden::lookup(ref, "backbone"));
  const double d_head = max_abs_diff(projection, test::golden::lookup(ref, "head"));
  const double d_head_features = max_abs_diff(features, test::golden::lookup(ref, "head_features"));
  const double d_sd = max_abs_diff(features, test::golden::lookup(ref, "state_dict"));
  MESSAGE("max |skyssl - torchvision|: backbone ", d_backbone, ", head ", d_head, ", state_dict ",
          d_sd);
  CHECK(d_backbone < 1e-4);
  CHECK(d_head < 1e-4);
  CHECK(d_head_features < 1e-4);
  CHECK(d_sd < 1e-4);
  // The features are not trivially small (a comparison of zeros would pass anything).
  CHECK(features.abs().max().item<double>() > 1e-2);
}

TEST_CASE("train.init_weights starts both encoders from the exported file") {
  const auto head = dir() / "init_head.safetensors";
  const auto backbone = dir() / "init_backbone.safetensors";
  REQUIRE(export_to(head, "--head").status == 0);
  REQUIRE(export_to(backbone).status == 0);
  const auto file = model::read_safetensors(head);
  kernels::kokkos_scope kokkos;
  dist::local_communicator comm;
  config cfg = config::from_file(trained_run() / "config.toml");
  auto fresh_cfg = cfg;
  fresh_cfg.apply_override("train.seed=99");  // another random init than the file's
  auto fresh = train::make_state(skyssl::train::run_options_from(fresh_cfg, comm), comm, 3, 4);

  auto with_head = fresh_cfg;
  with_head.apply_override("train.init_weights=\"" + head.string() + "\"");
  auto s = train::make_state(skyssl::train::run_options_from(with_head, comm), comm, 3, 4);
  std::size_t compared = 0;
  for (auto* enc : {&s.moco->encoder_q(), &s.moco->encoder_k()})
    for (const auto& [name, t] : model::state_tensors(**enc)) {
      INFO(name);
      REQUIRE(file.count(name) == 1);
      CHECK(torch::equal(t, file.at(name)));
      ++compared;
    }
  CHECK(compared == 2 * file.size());

  // Backbone only: the backbone is the file's, the head the fresh random one.
  auto no_head = fresh_cfg;
  no_head.apply_override("train.init_weights=\"" + backbone.string() + "\"");
  auto b = train::make_state(skyssl::train::run_options_from(no_head, comm), comm, 3, 4);
  const auto fresh_state = model::state_tensors(*fresh.moco->encoder_q());
  std::size_t i = 0;
  for (const auto& [name, t] : model::state_tensors(*b.moco->encoder_q())) {
    INFO(name);
    const bool is_head = name.rfind("fc.", 0) == 0;
    CHECK(torch::equal(t, is_head ? fresh_state[i].second : file.at(name)));
    if (!is_head) CHECK_FALSE(torch::equal(t, fresh_state[i].second));
    ++i;
  }
}

TEST_CASE("train.init_weights and skyssl-export reject what does not fit, naming it") {
  const auto backbone = dir() / "init_backbone2.safetensors";
  REQUIRE(export_to(backbone).status == 0);
  const auto survey = dir() / "survey.h5";
  trained_run();
  const auto train_cmd = [&](const std::string& extra) {
    return run(fmt::format(
        "{} --preset example --run-dir {} --set data.path={} --set augment.input_size=32 "
        "--set augment.crop=24 --set moco.K=64 --set moco.bn_group=16 "
        "--set train.global_batch=16 --set train.max_steps=1 --set train_eval.enabled=false {}",
        skyssl::test::program("skyssl-train"), (dir() / "bad_init").string(), survey.string(),
        extra));
  };
  fs::remove_all(dir() / "bad_init");
  auto narrow = train_cmd("--set model.width=8 --set train.init_weights=" + backbone.string());
  CHECK(narrow.status != 0);
  CHECK(narrow.output.find("conv1.weight is Float 64x3x7x7, the model expects Float 8x3x7x7") !=
        std::string::npos);
  fs::remove_all(dir() / "bad_init");
  auto missing = train_cmd("--set train.init_weights=" + (dir() / "nope.safetensors").string());
  CHECK(missing.status != 0);
  CHECK(missing.output.find("nope.safetensors' not found") != std::string::npos);
  // Not a safetensors file.
  fs::remove_all(dir() / "bad_init");
  auto garbage = train_cmd("--set train.init_weights=" + (trained_run() / "config.toml").string());
  CHECK(garbage.status != 0);
  CHECK(garbage.output.find("config.toml") != std::string::npos);

  auto no_run = run(fmt::format("{} --run-dir {} --out {}", skyssl::test::program("skyssl-export"),
                                (dir() / "no_run").string(), (dir() / "x.safetensors").string()));
  CHECK(no_run.status != 0);
  CHECK(no_run.output.find("no_run/config.toml' not found") != std::string::npos);
  auto fmt_bad = export_to(dir() / "x.bin", "--format onnx");
  CHECK(fmt_bad.status != 0);
  CHECK(fmt_bad.output.find("--format must be 'safetensors' or 'state_dict', got 'onnx'") !=
        std::string::npos);
  CHECK_FALSE(fs::exists(dir() / "x.bin"));
}

namespace {

void write_fits_cube(const fs::path& path, const torch::Tensor& chw) {
  fs::remove(path);
  fitsfile* f = nullptr;
  int status = 0;
  long dims[3] = {chw.size(2), chw.size(1), chw.size(0)};  // NAXIS1 = x
  fits_create_file(&f, path.string().c_str(), &status);
  fits_create_img(f, FLOAT_IMG, 3, dims, &status);
  auto c = chw.contiguous();
  fits_write_img(f, TFLOAT, 1, c.numel(), c.data_ptr<float>(), &status);
  fits_close_file(f, &status);
  REQUIRE(status == 0);
}

}  // namespace

TEST_CASE("skyssl-search finds the galaxy of a cutout embedded with the run's encoder") {
  kernels::kokkos_scope kokkos;
  const auto survey = dir() / "survey.h5";
  auto encoder = model::load_run_encoder(trained_run());
  const auto cfg = config::from_file(trained_run() / "config.toml");
  const auto augment = kernels::augment_config_from(cfg, "augment");
  data::archive_options ao;
  ao.paths = {survey.string()};
  const data::archive ar(ao);
  auto images = torch::empty({ar.size(), ar.channels(), ar.height(), ar.width()});
  ar.read_images(0, ar.size(), images.data_ptr<float>());
  const auto emb =
      embed::embed_images(encoder, images, augment, "backbone", "the survey").contiguous();
  test::embedding_file_spec spec;
  spec.source = survey.string();
  spec.spaces["backbone"] = {
      static_cast<int>(emb.size(1)),
      std::vector<float>(emb.data_ptr<float>(), emb.data_ptr<float>() + emb.numel())};
  std::vector<std::int64_t> objid(ar.size());
  for (std::int64_t i = 0; i < ar.size(); ++i) objid[i] = 5000 + i;
  spec.int_fields["objid"] = objid;
  const auto emb_file = dir() / "emb.h5";
  test::write_embedding_file(emb_file, spec);

  const auto fits = dir() / "row7.fits";
  write_fits_cube(fits, images[7]);
  const auto h5 = dir() / "rows.h5";
  {
    // The cutout file: an `images` dataset of 2 galaxies.
    const auto two = torch::stack({images[7], images[40]}).contiguous();
    hid_t f = H5Fcreate(h5.string().c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    const hsize_t dims[4] = {2, 3, 32, 32};
    test::detail::dataset(f, "images", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 4, dims,
                          two.data_ptr<float>());
    H5Fclose(f);
  }
  const auto json = dir() / "cutout.json", png = dir() / "cutout.png";
  for (const auto& cut : {fits, h5}) {
    INFO(cut.string());
    auto s =
        run(fmt::format("{} --embeddings {} --cutout {} --run-dir {} --k 3 --json {} "
                        "--gallery {}",
                        skyssl::test::program("skyssl-search"), emb_file.string(), cut.string(),
                        trained_run().string(), json.string(), png.string()));
    REQUIRE_MESSAGE(s.status == 0, s.output);
    std::ifstream f(json);
    const auto j = nlohmann::json::parse(f);
    const auto& first = j["queries"][0]["neighbours"][0];
    CHECK(first["row"] == 7);
    CHECK(first["objid"] == 5007);
    CHECK(first["score"].get<double>() > 0.9999);
    if (cut == h5) CHECK(j["queries"][1]["neighbours"][0]["row"] == 40);
    CHECK(fs::file_size(png) > 100);
  }
  // A run of another architecture than the embedding file's, and no run at all.
  spec.arch = "resnet50";
  const auto other = dir() / "emb_resnet50.h5";
  test::write_embedding_file(other, spec);
  auto arch = run(fmt::format("{} --embeddings {} --cutout {} --run-dir {}",
                              skyssl::test::program("skyssl-search"), other.string(), fits.string(),
                              trained_run().string()));
  CHECK(arch.status != 0);
  CHECK(arch.output.find("holds embeddings of a resnet50 model") != std::string::npos);
  auto no_run =
      run(fmt::format("{} --embeddings {} --cutout {}", skyssl::test::program("skyssl-search"),
                      emb_file.string(), fits.string()));
  CHECK(no_run.status != 0);
  CHECK(no_run.output.find("--cutout needs --run-dir") != std::string::npos);
  // Projection-space file queried with a backbone run: dimensions differ.
  spec.arch = "resnet18";
  spec.spaces.clear();
  spec.spaces["projection"] = {32,
                               std::vector<float>(static_cast<std::size_t>(ar.size()) * 32, 1.0f)};
  const auto proj = dir() / "emb_proj32.h5";
  test::write_embedding_file(proj, spec);
  auto dim = run(fmt::format("{} --embeddings {} --cutout {} --run-dir {}",
                             skyssl::test::program("skyssl-search"), proj.string(), fits.string(),
                             trained_run().string()));
  CHECK(dim.status != 0);
  CHECK(dim.output.find("embeds to 128 dimensions, /projection") != std::string::npos);
}
