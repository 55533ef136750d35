/* F(4x4,3x3) against a double-precision direct convolution and F(2x2,3x3): max error and min time.
 *   clang -O3 -march=x86-64 -ISources/CKernels/include -ISources/CKernels tools/bench/harness/wino43-check.c Sources/CKernels/depthwise.c -lm -o /tmp/w43
 *   /tmp/w43 C M H W POOL N RES REPS */
#include "kernels.c"

#include <stdio.h>
#include <math.h>
#include <time.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec*1e3+t.tv_nsec/1e6;}
static float frand(){return rand()/(float)RAND_MAX*2-1;}
int main(int argc,char**argv){
  int C=atoi(argv[1]),M=atoi(argv[2]),h=atoi(argv[3]),w=atoi(argv[4]),pool=atoi(argv[5]),n=atoi(argv[6]),useres=argc>7?atoi(argv[7]):0;
  int pad=1, oh=h, ow=w; int reps=argc>8?atoi(argv[8]):200;
  float*g=malloc(4*(size_t)M*C*9);for(size_t i=0;i<(size_t)M*C*9;i++)g[i]=frand()*0.2f;
  float*x=malloc(4*(size_t)n*C*h*w);for(size_t i=0;i<(size_t)n*C*h*w;i++)x[i]=frand();
  float*bias=malloc(4*M);for(int i=0;i<M;i++)bias[i]=frand();
  size_t osz=(size_t)n*M*oh*ow; float*res=useres?malloc(4*osz):NULL; if(res)for(size_t i=0;i<osz;i++)res[i]=frand();
  /* reference in double */
  double*ref=malloc(8*osz);
  for(int i=0;i<n;i++)for(int m=0;m<M;m++)for(int y=0;y<oh;y++)for(int xx=0;xx<ow;xx++){
    double a=bias[m]; for(int c=0;c<C;c++)for(int ki=0;ki<3;ki++)for(int kj=0;kj<3;kj++){int iy=y+ki-pad,ix=xx+kj-pad; if(iy<0||iy>=h||ix<0||ix>=w)continue;
      a+=(double)g[((size_t)m*C+c)*9+ki*3+kj]*x[((size_t)i*C+c)*h*w+iy*w+ix];}
    size_t o=((size_t)i*M+m)*oh*ow+y*ow+xx; if(res)a+=res[o]; ref[o]=a>0?a:0;}
  size_t psz=pool?(size_t)n*M*(oh/2)*(ow/2):osz; double*refp=malloc(8*psz);
  if(pool){for(int i=0;i<n;i++)for(int m=0;m<M;m++)for(int y=0;y<oh/2;y++)for(int xx=0;xx<ow/2;xx++){double*r=ref+((size_t)i*M+m)*oh*ow;
     double v=fmax(fmax(r[2*y*ow+2*xx],r[2*y*ow+2*xx+1]),fmax(r[(2*y+1)*ow+2*xx],r[(2*y+1)*ow+2*xx+1])); refp[((size_t)i*M+m)*(oh/2)*(ow/2)+y*(ow/2)+xx]=v;}}
  else memcpy(refp,ref,8*osz);
  float*U4=aligned_alloc(64,4*((emo_w43_weights_size(M,C)+15)/16*16)); emo_w43_pack_weights(g,M,C,U4);
  float*U2=aligned_alloc(64,4*((emo_wino_weights_size(M,C)+15)/16*16)); emo_wino_pack_weights(g,M,C,U2);
  float*wk4=aligned_alloc(64,4*((emo_w43_workspace(M,C,oh,ow,n)+15)/16*16));
  float*wk2=aligned_alloc(64,4*((emo_wino_workspace(M,C,oh,ow,n)+15)/16*16));
  float*o4=malloc(4*psz),*o2=malloc(4*psz); for(size_t i=0;i<psz;i++)o4[i]=o2[i]=NAN;
  emo_w43_conv(2,x,n,C,h,w,pad,pad,oh,ow,U4,M,bias,EMO_ACT_RELU,0,0,pool,res,o4,wk4);
  emo_wino_conv(2,x,n,C,h,w,pad,pad,oh,ow,U2,M,bias,EMO_ACT_RELU,0,0,pool,res,o2,wk2);
  double e4=0,e2=0,mx=0; for(size_t i=0;i<psz;i++){double a=fabs(o4[i]-refp[i]),b=fabs(o2[i]-refp[i]); if(!(a<=e4))e4=a; if(!(b<=e2))e2=b; if(fabs(refp[i])>mx)mx=fabs(refp[i]);}
  double b4=1e9,b2=1e9;
  for(int r=0;r<reps;r++){double t=now();emo_w43_conv(2,x,n,C,h,w,pad,pad,oh,ow,U4,M,bias,EMO_ACT_RELU,0,0,pool,res,o4,wk4);t=now()-t;if(t<b4)b4=t;
    t=now();emo_wino_conv(2,x,n,C,h,w,pad,pad,oh,ow,U2,M,bias,EMO_ACT_RELU,0,0,pool,res,o2,wk2);t=now()-t;if(t<b2)b2=t;}
  printf("C%-3d M%-3d %dx%d pool%d n%d res%d: err F43 %.2e F23 %.2e (max |y| %.1f) | F43 %.4f ms  F23 %.4f ms  (%.2fx)\n",C,M,h,w,pool,n,useres,e4,e2,mx,b4,b2,b2/b4);
}
