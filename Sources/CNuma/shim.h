// libnuma (Debian libnuma-dev): NUMA topology, node-local allocation and thread placement.
#include <numa.h>
