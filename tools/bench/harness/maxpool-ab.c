/* Two builds of the kernels' emo_maxpool in alternating calls in one process (dlopen), on a 3×3/2
 * max pool (pads PAD on every side, default 0) of C planes of H×W; checks both builds agree and the second against a direct loop.
 *
 *   git show REV:Sources/CKernels/depthwise.c > /tmp/old_dw.c && cp Sources/CKernels/split_row.h /tmp/
 *   clang -O3 -fPIC -shared -I Sources/CKernels/include -I /tmp -o /tmp/libold.so /tmp/old_dw.c Sources/CKernels/kernels.c
 *   clang -O3 -fPIC -shared -I Sources/CKernels/include -o /tmp/libnew.so Sources/CKernels/depthwise.c Sources/CKernels/kernels.c
 *   clang -O3 -o /tmp/pab tools/bench/harness/maxpool-ab.c -ldl && /tmp/pab /tmp/libold.so /tmp/libnew.so 64 147 147 [RUNS [PAD]]
 *   (ResNet18's pool: 64 112 112 300 1) */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
typedef int (*pool_t)(int,const float*,int,int,int,int,int,int,int,int,int,int,int,int,int,float*,float*);
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static int cmp(const void*a,const void*b){double x=*(double*)a,y=*(double*)b;return x<y?-1:x>y;}
int main(int argc,char**argv){
  int C=atoi(argv[3]),h=atoi(argv[4]),w=atoi(argv[5]); int runs=argc>6?atoi(argv[6]):300, pad=argc>7?atoi(argv[7]):0;
  int oh=(h+2*pad-3)/2+1, ow=(w+2*pad-3)/2+1;
  pool_t p[2]; for(int v=0;v<2;v++){void*hd=dlopen(argv[1+v],RTLD_NOW|RTLD_LOCAL); if(!hd){printf("%s\n",dlerror());return 1;} p[v]=(pool_t)dlsym(hd,"emo_maxpool");}
  float*x=malloc(4*(size_t)C*h*w); for(size_t i=0;i<(size_t)C*h*w;i++)x[i]=rand()/(float)RAND_MAX-0.5f;
  float*o[2]={malloc(4*(size_t)C*oh*ow),malloc(4*(size_t)C*oh*ow)}; float*work=aligned_alloc(64,4*((size_t)(h+4)*(w+4)*4+4096));
  double*t[2]={malloc(8*runs),malloc(8*runs)};
  for(int r=0;r<runs+10;r++) for(int v0=0;v0<2;v0++){int v=(r&1)?1-v0:v0; double t0=now();
    if(p[v](2,x,C,h,w,3,3,2,2,1,1,pad,pad,oh,ow,o[v],work)){printf("rc\n");return 1;}
    if(r>=10)t[v][r-10]=now()-t0;}
  int diff=0; for(size_t i=0;i<(size_t)C*oh*ow;i++) if(o[0][i]!=o[1][i]) diff++;
  /* reference for the new one */
  int bad=0; for(int c=0;c<C;c++)for(int y=0;y<oh;y++)for(int xx=0;xx<ow;xx++){float m=-1e30f; for(int i=0;i<3;i++)for(int j=0;j<3;j++){int iy=2*y+i-pad,ix=2*xx+j-pad; if(iy<0||iy>=h||ix<0||ix>=w)continue; float v=x[((size_t)c*h+iy)*w+ix]; if(v>m)m=v;} if(m!=o[1][((size_t)c*oh+y)*ow+xx]) bad++;}
  qsort(t[0],runs,8,cmp);qsort(t[1],runs,8,cmp);
  printf("%d x %dx%d -> %dx%d: old med %.4f min %.4f | new med %.4f min %.4f ms | new/old med %.3f min %.3f | differ %d, wrong %d\n",C,h,w,oh,ow,
    t[0][runs/2]*1e3,t[0][0]*1e3,t[1][runs/2]*1e3,t[1][0]*1e3,t[1][runs/2]/t[0][runs/2],t[1][0]/t[0][0],diff,bad);
}
