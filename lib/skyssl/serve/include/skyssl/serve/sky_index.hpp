#pragma once
// The galaxy nearest a sky position, found through a k-d tree on unit vectors (built once, a
// few seconds for tens of millions of rows; a look-up visits tens of nodes: microseconds)
// instead of the published app's scan of every row's angular separation.
#include <cstdint>
#include <vector>

namespace skyssl::serve {

// Great-circle separation in arcsec of two positions in degrees (Vincenty's formula: exact at
// 0 and 180 degrees alike).
double separation_arcsec(double ra1_deg, double dec1_deg, double ra2_deg, double dec2_deg);

class sky_index {
 public:
  // Positions of rows 0..n-1 in degrees; the arrays must outlive the index (they are the
  // field table's columns). Rows with a non-finite position are left out.
  sky_index(const double* ra_deg, const double* dec_deg, std::int64_t n);

  struct hit {
    std::int64_t row = -1;  // -1: the index is empty
    double separation_arcsec = 0;
  };
  // The row nearest (ra, dec); of rows at the same separation, the lowest.
  hit nearest(double ra_deg, double dec_deg) const;

  std::int64_t size() const { return static_cast<std::int64_t>(row_.size()); }
  std::size_t bytes() const { return xyz_.size() * sizeof(float) + row_.size() * sizeof(row_[0]); }

 private:
  struct best;
  void search(std::size_t lo, std::size_t hi, int depth, const float q[3], const double qd[3],
              best& b) const;
  void consider(std::size_t i, const float q[3], const double qd[3], best& b) const;

  const double* ra_;
  const double* dec_;
  std::vector<float> xyz_;          // unit vectors in tree order (3 a node)
  std::vector<std::uint32_t> row_;  // the row of each tree node
};

}  // namespace skyssl::serve
