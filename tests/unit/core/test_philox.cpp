#include <doctest/doctest.h>

#include <cmath>
#include <set>

#include "skyssl/core/philox.hpp"

using namespace skyssl::rng;

TEST_CASE("philox4x32-10 matches the Random123 known-answer vectors") {
  // kat_vectors from Random123: philox4x32 10 rounds.
  auto r = philox4x32_10(u32x4{{0, 0, 0, 0}}, 0, 0);
  CHECK(r.v[0] == 0x6627e8d5u);
  CHECK(r.v[1] == 0xe169c58du);
  CHECK(r.v[2] == 0xbc57ac4cu);
  CHECK(r.v[3] == 0x9b00dbd8u);
  auto p = philox4x32_10(u32x4{{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}}, 0xa4093822u,
                         0x299f31d0u);
  CHECK(p.v[0] == 0xd16cfe09u);
  CHECK(p.v[1] == 0x94fdccebu);
  CHECK(p.v[2] == 0x5001e420u);
  CHECK(p.v[3] == 0x24126ea1u);
}

TEST_CASE("streams differ by every key component and are reproducible") {
  stream_key base{42, 3, 1000, 0, augment_geometry};
  std::set<std::uint32_t> firsts;
  auto first = [](stream_key k) { return draw(k, 0).v[0]; };
  firsts.insert(first(base));
  auto k = base;
  k.seed = 43;
  firsts.insert(first(k));
  k = base;
  k.epoch = 4;
  firsts.insert(first(k));
  k = base;
  k.sample = 1001;
  firsts.insert(first(k));
  k = base;
  k.view = 1;
  firsts.insert(first(k));
  k = base;
  k.purpose = augment_noise;
  firsts.insert(first(k));
  CHECK(firsts.size() == 6);
  CHECK(first(base) == first(base));
}

TEST_CASE("uniform and normal transforms have the right moments") {
  stream_key k{7, 0, 0, 0, user};
  double s = 0, s2 = 0, n = 0, un = 0;
  for (std::uint32_t i = 0; i < 20000; ++i) {
    auto d = draw(k, i);
    float a, b;
    to_normal2(d.v[0], d.v[1], a, b);
    s += a + b;
    s2 += a * a + b * b;
    n += 2;
    float u = to_unit_float(d.v[2]);
    CHECK(u >= 0.0f);
    CHECK(u < 1.0f);
    un += u;
  }
  CHECK(std::abs(s / n) < 0.02);
  CHECK(std::abs(s2 / n - 1.0) < 0.03);
  CHECK(std::abs(un / 20000 - 0.5) < 0.01);
}
