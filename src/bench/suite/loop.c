/* The same CPU-bound loop in every language of the suite. */
#include <stdio.h>
int main(void) {
    unsigned long long s = 0;
    for (unsigned long long i = 0; i < 30000000ULL; i++) s = (s + i * i) % 1000003;
    printf("loop %llu\n", s);
    return 0;
}
