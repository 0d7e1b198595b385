#pragma once
// The linear probe on frozen features: multinomial logistic regression with an L2 penalty on
// standardised features (mean and standard deviation of the training rows), fitted full-batch
// by L-BFGS in float64 from zero weights (a convex problem: no random start, one answer).
// Also the photo-z head of the SDSS study: the same model over 180 redshift bins on [0, 0.4),
// predicting the softmax-weighted bin centre.
#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace skyssl::eval {

struct logistic_options {
  double l2 = 1e-3;    // penalty 0.5 * l2 * |W|^2 added to the mean cross-entropy
  int max_iter = 100;  // L-BFGS iterations
};

struct logistic_model {
  torch::Tensor mean, inv_std;  // (d) float64
  torch::Tensor weight, bias;   // (d, C), (C) float64
  // (N, C) class probabilities of raw (unstandardised) features x (N, d).
  torch::Tensor probabilities(const torch::Tensor& x) const;
  std::vector<int> predict(const torch::Tensor& x) const;
};

// x (N, d) any float type, labels in [0, n_classes). data_error when sizes differ or a label is
// out of range.
logistic_model fit_logistic(const torch::Tensor& x, const std::vector<int>& labels, int n_classes,
                            const logistic_options& options);

struct redshift_bins {
  int count = 180;
  double z_min = 0.0, z_max = 0.4;
  int bin_of(double z) const;  // clamped to [0, count)
  double centre(int bin) const;
};

// The binned photo-z head: fits on (x, z) and predicts z for x_test.
std::vector<double> fit_predict_photoz_head(const torch::Tensor& x_train,
                                            const std::vector<double>& z_train,
                                            const torch::Tensor& x_test, const redshift_bins& bins,
                                            const logistic_options& options);

}  // namespace skyssl::eval
