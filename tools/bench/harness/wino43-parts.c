#include "kernels.c"

#include <stdio.h>
#include <time.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec*1e3+t.tv_nsec/1e6;}
int main(int argc,char**argv){
  int C=atoi(argv[1]),M=atoi(argv[2]),h=atoi(argv[3]),w=h,pool=atoi(argv[4]),n=atoi(argv[5]);
  float*gw=malloc(4*(size_t)M*C*9);for(size_t i=0;i<(size_t)M*C*9;i++)gw[i]=rand()/(float)RAND_MAX-.5f;
  float*U=aligned_alloc(64,4*((emo_w43_weights_size(M,C)+15)/16*16));emo_w43_pack_weights(gw,M,C,U);
  float*x=malloc(4*(size_t)n*C*h*w);for(int i=0;i<n*C*h*w;i++)x[i]=rand()/(float)RAND_MAX;
  float*b=calloc(M,4),*o=malloc(4*(size_t)n*M*h*w),*work=aligned_alloc(64,4*((emo_w43_workspace(M,C,h,w,n)+15)/16*16));
  const w43_geo g = w43_shape(M, C, h, w, 1, 1, h, w, n);
  float *V = work, *Mx = V + 36 * g.VS; const size_t ps = pack_size(M, C, WINO_MR);
  double bi=1e9,bg=1e9,bo=1e9;
  for(int r=0;r<300;r++){ double ti=0,tg=0,to=0,t0;
    for (int ty0 = 0; ty0 < g.tH; ty0 += g.rb) { const int nty = g.tH - ty0 < g.rb ? g.tH - ty0 : g.rb, T = g.nb * nty * g.tW;
      t0=now(); w43_input(&g, x, ty0, nty, T, V); ti+=now()-t0;
      t0=now(); for (int xi = 0; xi < 36; xi++) gemm512(M, T, C, U + xi * ps, WINO_MR, V + xi * g.VS, g.Tp, Mx + xi * g.MS, g.Tp, NULL, 0, 0, 0, NULL); tg+=now()-t0;
      t0=now(); w43_output(&g, Mx, ty0, nty, T, b, 1, 0, 0, pool, NULL, o); to+=now()-t0; }
    if(ti<bi)bi=ti; if(tg<bg)bg=tg; if(to<bo)bo=to; }
  printf("F43 C%d M%d %d² pool%d n%d (nb %d rb %d): input %.4f gemm %.4f output %.4f\n",C,M,h,pool,n,g.nb,g.rb,bi,bg,bo);
}
