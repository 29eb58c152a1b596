/* A header in a subfolder: its field name in the upload is its path, src/util.h. */
static inline long add(long a, long b) { return a + b; }
