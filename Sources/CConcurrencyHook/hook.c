#include "CConcurrencyHook.h"
