// CMalloc is its header (include/CMalloc.h); SwiftPM needs a source file for a C target.
#include "CMalloc.h"
