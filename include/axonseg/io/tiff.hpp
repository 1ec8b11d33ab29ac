// TIFF volumes through libtiff: multi-page stacks (tiff_read.hpp, tiff_write.hpp) and folders of
// 2-d slices (slice_folder.hpp). uint8, uint16 and float32 samples; uncompressed, LZW, Deflate and
// PackBits; strips and tiles on reading, strips on writing; BigTIFF past 4 GB. Every write goes
// through a temporary name (atomic_file.hpp); every problem is an Error naming the file.
#pragma once

#include "axonseg/io/slice_folder.hpp"
#include "axonseg/io/tiff_read.hpp"
#include "axonseg/io/tiff_write.hpp"
