#pragma once
// Photometric-redshift metrics as the SDSS study reports them, on dz = (z_pred -
// z_true)/(1+z_true).
#include <vector>

namespace skyssl::eval {

struct photoz_metrics {
  double bias = 0;          // mean of dz
  double sigma_mad = 0;     // 1.4826 * median(|dz - median(dz)|)
  double outliers_005 = 0;  // fraction with |dz| > 0.05
  double outliers_015 = 0;  // fraction with |dz| > 0.15
  long count = 0;
};

photoz_metrics compute_photoz_metrics(const std::vector<double>& z_pred,
                                      const std::vector<double>& z_true);

// Fraction of predictions equal to the labels.
double accuracy(const std::vector<int>& predicted, const std::vector<int>& truth);

}  // namespace skyssl::eval
