// zlib from Debian's zlib1g-dev: the gzip inflater of the IDX reader (Fashion-MNIST and MNIST ship as .gz).
#include <zlib.h>
