/*
 * zh_seg_compare.c - agreement of ICU dictionary word break and friso (MMSEG)
 * with jieba on the review fixture, the measurement behind the choice of
 * segmenter (docs/topics.md).  Span-level precision/recall/F1 over words
 * made only of Han characters; whole texts are segmented.
 *   gcc -O2 -o /tmp/zh_seg_compare bench/lda/zh_seg_compare.c -lfriso $(pkg-config --libs icu-uc)
 *   /tmp/zh_seg_compare tests/fixtures/topics/zh_seg_jieba.tsv
 * (A quick measuring tool, written compactly; not part of the library.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unicode/ubrk.h>
#include <unicode/ustring.h>
#include <friso/friso.h>
static int is_han(unsigned c){return (c>=0x4E00&&c<=0x9FFF)||(c>=0x3400&&c<=0x4DBF)||(c>=0xF900&&c<=0xFAFF)||(c>=0x20000&&c<=0x2FFFF);}
static unsigned dec(const char*s,int*n){const unsigned char*u=(const unsigned char*)s;if(u[0]<0x80){*n=1;return u[0];}if(u[0]<0xE0){*n=2;return ((u[0]&31)<<6)|(u[1]&63);}if(u[0]<0xF0){*n=3;return ((u[0]&15)<<12)|((u[1]&63)<<6)|(u[2]&63);}*n=4;return ((u[0]&7)<<18)|((u[1]&63)<<12)|((u[2]&63)<<6)|(u[3]&63);}
static int allhan(const char*s,int a,int b){while(a<b){int n;unsigned c=dec(s+a,&n);if(!is_han(c))return 0;a+=n;}return 1;}
typedef struct{int a,b;}span;
static int count(span*x,int nx,span*y,int ny){int m=0,i=0,j=0;while(i<nx&&j<ny){if(x[i].a==y[j].a&&x[i].b==y[j].b){m++;i++;j++;}else if(x[i].a<y[j].a||(x[i].a==y[j].a&&x[i].b<y[j].b))i++;else j++;}return m;}
int main(int argc,char**argv){
 if(argc<2){fprintf(stderr,"usage: zh_seg_compare FIXTURE.tsv\n");return 2;}FILE*f=fopen(argv[1],"r");if(!f)return 1;char line[100000];
 friso_t fr=friso_new();friso_config_t cfg=friso_new_config();
 if(friso_init_from_ifile(fr,cfg,"/etc/friso/friso.ini")!=1){printf("friso init fail\n");return 1;}
 cfg->add_syn=0;
 friso_set_mode(cfg,__FRISO_COMPLEX_MODE__);
 friso_task_t task=friso_new_task();
 long nj=0,ni=0,nf=0,mi=0,mf=0;
 while(fgets(line,sizeof line,f)){
  line[strcspn(line,"\n")]=0;char*tab=strchr(line,'\t');*tab=0;char*text=line;char*seg=tab+1;
  span J[4000],I[4000],F[4000];int cj=0,ci=0,cf=0;int pos=0;
  for(char*w=strtok(seg," ");w;w=strtok(NULL," ")){char*p=strstr(text+pos,w);if(!p)continue;int a=p-text,b=a+strlen(w);pos=b;if(allhan(text,a,b))J[cj++]=(span){a,b};}
  /* ICU */
  UErrorCode st=U_ZERO_ERROR;UChar u[20000];int32_t ulen;u_strFromUTF8(u,20000,&ulen,text,-1,&st);
  /* map utf16 idx -> byte */ static int map[20001];{int bi=0,ui=0;while(text[bi]){int n;unsigned c=dec(text+bi,&n);map[ui]=bi;if(c>=0x10000){map[ui+1]=bi;ui+=2;}else ui++;bi+=n;}map[ui]=bi;}
  UBreakIterator*bi=ubrk_open(UBRK_WORD,"zh",u,ulen,&st);int32_t s=ubrk_first(bi);for(int32_t e=ubrk_next(bi);e!=UBRK_DONE;s=e,e=ubrk_next(bi)){int a=map[s],b=map[e];if(allhan(text,a,b))I[ci++]=(span){a,b};}ubrk_close(bi);
  friso_set_text(task,text);int fpos=0;
  while(cfg->next_token(fr,cfg,task)!=NULL){const char*w=task->token->word;char*p=strstr(text+fpos,w);if(!p)continue;int a=p-text,b=a+strlen(w);fpos=b;if(allhan(text,a,b))F[cf++]=(span){a,b};}
  nj+=cj;ni+=ci;nf+=cf;mi+=count(J,cj,I,ci);mf+=count(J,cj,F,cf);
 }
 double pi=(double)mi/ni,ri=(double)mi/nj,pf=(double)mf/nf,rf=(double)mf/nj;
 printf("ICU   P %.4f R %.4f F1 %.4f\nfriso P %.4f R %.4f F1 %.4f\n",pi,ri,2*pi*ri/(pi+ri),pf,rf,2*pf*rf/(pf+rf));
 return 0;}
