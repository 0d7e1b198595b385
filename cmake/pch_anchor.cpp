// The one source of the targets that compile skyssl's shared precompiled headers
// (cmake/SkysslPch.cmake); it has nothing else to do.
