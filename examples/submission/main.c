/* An example student solution: prints the sum of the numbers on standard input. */
#include <stdio.h>
#include "src/util.h"

int main(void) {
  long sum = 0, value;
  while (scanf("%ld", &value) == 1) sum = add(sum, value);
  printf("%ld\n", sum);
  return 0;
}
