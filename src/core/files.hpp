#pragma once
#include <filesystem>
#include <string_view>

#include "core/result.hpp"

namespace cf {

// Writes to "<path>.tmp", fsyncs, then renames over `path`: readers see the old file or the new one, never half.
// Files are created 0600: outputs name patients.
Status write_file_atomic(const std::filesystem::path& path, std::string_view content);

}  // namespace cf
