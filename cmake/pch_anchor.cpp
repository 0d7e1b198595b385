// The one source of the targets that compile skyssl's shared precompiled headers
// (cmake/SkysslTorchBuild.cmake); it has nothing else to do.
