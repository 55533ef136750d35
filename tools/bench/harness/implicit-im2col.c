/* Implicit im2col (emo_conv_same) against the paths it replaces, in alternating calls in one process
 * (the shared host's slow phases hit both), checked for equal outputs and against a direct loop:
 *   default  im2col of the whole output (emo_im2col_rows) + emo_gemm_packed
 *   KB=1     K-blocked: 256 rows of K at a time (emo_im2col_k + emo_gemm_packed_k), as Inception's 1×7 layers ran
 *   ROWS=1   the flat convolution by rows (emo_conv_rows over a padded copy, + emo_flat_to_planes)
 *   EVICT=MB evicts that many MiB of cache before each call
 *
 *   clang -O3 -I Sources/CKernels/include -o /tmp/same tools/bench/harness/implicit-im2col.c \
 *       Sources/CKernels/kernels.c Sources/CKernels/depthwise.c -lm
 *   KB=1 /tmp/same C M H W KH KW PADT PADL [RUNS]     e.g. KB=1 /tmp/same 192 192 17 17 1 7 0 3 */
#include "emo_kernels.h"
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <time.h>
#include <string.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static float frand(){return rand()/(float)RAND_MAX-0.5f;}
static int cmp(const void*a,const void*b){double x=*(double*)a,y=*(double*)b;return x<y?-1:x>y;}
int main(int argc,char**argv){
  int c=atoi(argv[1]),M=atoi(argv[2]),h=atoi(argv[3]),w=atoi(argv[4]),kh=atoi(argv[5]),kw=atoi(argv[6]),padT=atoi(argv[7]),padL=atoi(argv[8]);
  int runs=argc>9?atoi(argv[9]):200;
  int oh=h+2*padT-kh+1, ow=w; int N=oh*ow, K=c*kh*kw;
  float*x=malloc(4*(size_t)c*h*w); for(size_t i=0;i<(size_t)c*h*w;i++)x[i]=frand();
  float*W=malloc(4*(size_t)M*K); for(size_t i=0;i<(size_t)M*K;i++)W[i]=frand();
  float*Ap=aligned_alloc(64,emo_pack_a_size(M,K)*4+64); emo_pack_a(W,M,K,Ap);
  float*col=aligned_alloc(64,4*(size_t)K*N+64); float*o1=malloc(4*(size_t)M*N),*o2=malloc(4*(size_t)M*N); float*bias=malloc(4*M); for(int i=0;i<M;i++)bias[i]=frand();
  double *t[2]={malloc(8*runs),malloc(8*runs)};
  size_t ev=(size_t)atoi(getenv("EVICT")?getenv("EVICT"):"0")<<20; char*evb=ev?malloc(ev):0; if(ev)memset(evb,1,ev);
  for(int r=0;r<runs+5;r++) for(int v0=0;v0<2;v0++){int v=(r&1)?1-v0:v0; if(ev){volatile char s=0; for(size_t i=0;i<ev;i+=64){evb[i]++; s+=evb[i];}} double t0=now();
    if(v==0 && getenv("KB")){ for(int k0=0;k0<K;k0+=256){int k1=k0+256<K?k0+256:K; emo_im2col_k(2,x,c,h,w,kh,kw,1,1,1,1,padT,padL,k0,k1,0,oh,ow,col); emo_gemm_packed_k(2,M,N,K,k0,k1,Ap,col,N,o1,N,bias,1,0,0,NULL);} }
    else if(v==0 && getenv("ROWS")){ int ph=h+kh-1, pw=w+kw-1; int n=(oh-1)*pw+ow; static float*xp=0,*fl=0; static int*off=0; if(!xp){xp=aligned_alloc(64,4*(size_t)c*ph*pw+64); off=malloc(4*(size_t)K); fl=malloc(4*(size_t)M*n);}
       memset(xp,0,4*(size_t)c*ph*pw); for(int ci=0;ci<c;ci++)for(int y=0;y<h;y++)memcpy(xp+((size_t)ci*ph+y+padT)*pw+padL,x+((size_t)ci*h+y)*w,4*w);
       int rc=emo_conv_rows(2,xp,c,ph,pw,kh,kw,1,1,1,1,n,Ap,M,pw>ow?fl:o1,bias,1,0,0,NULL,off); if(rc){printf("rows rc %d\n",rc);exit(1);}
       if(pw>ow) emo_flat_to_planes(fl,M,n,oh,ow,pw,o1,NULL,0,0,0); }
    else if(v==0){ emo_im2col_rows(2,x,c,h,w,kh,kw,1,1,1,1,padT,padL,0,oh,ow,col); emo_gemm_packed(2,M,N,K,Ap,col,N,o1,N,bias,1,0,0,NULL);}
    else { int rc=emo_conv_same(2,x,c,h,w,kh,kw,padT,padL,oh,Ap,M,o2,bias,1,0,0,NULL); if(rc){printf("rc %d\n",rc);return 1;} }
    if(r>=5)t[v][r-5]=now()-t0;}
  double md=0; for(size_t i=0;i<(size_t)M*N;i++){double d=fabs(o1[i]-o2[i]); if(d>md)md=d;}
  /* direct reference for a few outputs */
  double rd=0; for(int m=0;m<M;m+=7) for(int n=0;n<N;n+=5){ int oy=n/ow, ox=n%ow; double s=bias[m];
     for(int ci=0;ci<c;ci++)for(int ki=0;ki<kh;ki++)for(int kj=0;kj<kw;kj++){int iy=oy+ki-padT, ix=ox+kj-padL; if(iy>=0&&iy<h&&ix>=0&&ix<w) s+=W[((size_t)m*c+ci)*kh*kw+ki*kw+kj]*x[((size_t)ci*h+iy)*w+ix];}
     s=s>0?s:0; double d=fabs(s-o2[(size_t)m*N+n]); if(d>rd)rd=d;}
  qsort(t[0],runs,8,cmp);qsort(t[1],runs,8,cmp);
  printf("c%d M%d %dx%d k%dx%d pad %d,%d: im2col+gemm med %.3f min %.3f | same med %.3f min %.3f ms | ratio med %.3f min %.3f | maxdiff %.2g ref %.2g\n",c,M,h,w,kh,kw,padT,padL,
    t[0][runs/2]*1e3,t[0][0]*1e3,t[1][runs/2]*1e3,t[1][0]*1e3,t[1][runs/2]/t[0][runs/2],t[1][0]/t[0][0],md,rd);
}
