/* This CPU's peak single-thread AVX-512 FMA rate: 24 independent vfmadd231ps chains (no loads), the
 * ceiling for the GEMM kernels' GMAC/s (16 multiply-adds per FMA). Six passes of 20 M iterations.
 *   clang -O2 -o /tmp/fma-peak tools/bench/harness/fma-peak.c && /tmp/fma-peak */
#include <stdio.h>
#include <time.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
int main(){
  for(int rep=0;rep<6;rep++){
  long n=20000000; double t0=now();
  __asm__ volatile(
   "vxorps %%zmm0,%%zmm0,%%zmm0\n"
   "1:\n"
   ".irp r,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27\n"
   "vfmadd231ps %%zmm1,%%zmm2,%%zmm\\r\n"
   ".endr\n"
   "dec %0\n jnz 1b\n" : "+r"(n) :: "memory");
  double t=now()-t0; n=20000000;
  printf("%.1f GMAC/s (%.2f G fma/s)\n", n*24.0*16/t/1e9, n*24.0/t/1e9);}
}
