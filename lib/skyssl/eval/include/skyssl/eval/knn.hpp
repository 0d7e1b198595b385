#pragma once
// k-nearest-neighbour probes on frozen representations: the label-free way to ask whether the
// embedding space organises galaxies by morphology or redshift.
#include <cstdint>
#include <vector>

#include "skyssl/search/similarity_index.hpp"

namespace skyssl::eval {

// Majority vote among the k neighbours, each weighted by exp(similarity / temperature)
// (the weighted k-NN of Wu et al. 2018 used for SSL evaluation). Labels are 0..n_classes-1.
std::vector<int> knn_classify(const search::neighbours& nn, const std::vector<int>& train_labels,
                              int n_classes, float temperature = 0.07f);
// Similarity-weighted mean of the neighbours' values (e.g. redshift).
std::vector<double> knn_regress(const search::neighbours& nn,
                                const std::vector<double>& train_values, float temperature = 0.07f);

}  // namespace skyssl::eval
