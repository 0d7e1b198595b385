#pragma once
// A path the build gave this program by name (its tools, the source tree): defined by a file
// that skyssl_baked_paths() (cmake/SkysslBakedPaths.cmake) generates for the program, so that
// no absolute path sits in a compile definition. A name the program was not given throws,
// naming it.
#include <string>
#include <string_view>

namespace skyssl {

std::string baked_path(std::string_view name);

}  // namespace skyssl
