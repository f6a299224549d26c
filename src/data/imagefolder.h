/* Folder-per-class image data sets (the ImageNet / torchvision ImageFolder
 * layout: ROOT/CLASS/.../NAME.jpg|.jpeg|.png), decoded on demand by fetch().
 *
 * Classes are the sorted subfolder names; samples are ordered by (class, path).
 * Every candidate file is decoded once completely when first seen; what that
 * found is kept in an index file (ROOT/.bigbatch-index, else in index_dir) and
 * reused while the file's size and mtime stay the same. Training fetches take a
 * random-resized crop (Szegedy et al.; torchvision's RandomResizedCrop: area
 * 8%-100%, aspect ratio 3/4-4/3), resize it to size x size (antialiased
 * bilinear), flip, and normalize; evaluation resizes the short side to
 * eval_resize and takes the center size x size. Randomness is
 * bb_rng_make(seed, BB_RNG_AUGMENT, epoch, index), so a sample looks the same
 * whichever thread fetches it. See docs/IMAGEFOLDER.md. */
#ifndef BB_DATA_IMAGEFOLDER_H
#define BB_DATA_IMAGEFOLDER_H

#include "data/data.h"

#include <stdio.h>

typedef struct {
    int64_t size;                  /* output side (both sets); >= 8 */
    int64_t eval_resize;           /* evaluation: short side before the center crop; 0: round(size / 0.875) */
    double min_area, max_area;     /* training crop area, fraction of the image (0.08, 1) */
    double min_ratio, max_ratio;   /* training crop aspect ratio w/h (3/4, 4/3) */
    int flip;                      /* random horizontal flips (1) */
    int bad_fail;                  /* 1: a bad image fails the load; 0: it is left out and reported (0) */
    double holdout;                /* no val root: fraction of each class held out for evaluation (0.1) */
    int64_t cache_bytes;           /* decoded-image cache budget for both sets together (0: no cache) */
    int dct_scaling;               /* JPEG: decode at a reduced scale when the crop allows (1) */
    int partial;                   /* JPEG/PNG: decode only the rows/columns a training crop needs (1) */
    int threads;                   /* threads verifying new files (0: all cores) */
    const char *index_dir;         /* where the index goes when ROOT is not writable (NULL: nowhere) */
    FILE *log;                     /* summary, bad files, fetch-time failures (NULL: silent) */
    int report;                    /* with log NULL: the same messages to the library's bb_log callback (0) */
} bb_imagefolder_options;

void bb_imagefolder_defaults(bb_imagefolder_options *o);

/* Loads ROOT as the training set and VAL_ROOT (same class folder names, a
 * subset of ROOT's) as the evaluation set; val_root NULL or "": holds out
 * `holdout` of each class instead (per class the files whose path hashes
 * lowest; at least one and never all of a class with two or more files; the
 * same split for every seed). Fails with BB_ERR_IO (no such folder, no class
 * folders), BB_ERR_FORMAT (no usable image, bad images with bad_fail, a val
 * class unknown to ROOT), BB_ERR_INVALID (options). On failure both sets are
 * left zeroed. */
bb_status bb_imagefolder_load(bb_dataset *train, bb_dataset *val, const char *root, const char *val_root,
                              const bb_imagefolder_options *o);

typedef struct {
    int64_t classes;               /* of the training set */
    int64_t images;                /* samples of this set */
    int64_t jpeg, png;             /* of which */
    int64_t bad, ignored;          /* left out: undecodable; not .jpg/.jpeg/.png or outside a class folder */
    int64_t checked, reused;       /* files decoded to verify them this time; taken from the index */
    int cached;                    /* decoded images kept in memory */
    int64_t cache_bytes;           /* what the cache holds when full */
    int64_t fetch_failures;        /* files that failed at fetch time (changed since verification) */
    char index_path[1024];         /* where the index was read or written ("" if nowhere) */
} bb_imagefolder_stats;

/* BB_ERR_INVALID if d is not a folder set. */
bb_status bb_imagefolder_stats_get(const bb_dataset *d, bb_imagefolder_stats *st);
/* Path of sample i relative to its root, and the name of class c (NULL if out of range). */
const char *bb_imagefolder_file(const bb_dataset *d, int64_t i);
const char *bb_imagefolder_class(const bb_dataset *d, int64_t c);

/* The random-resized crop for (seed, epoch, index) of a w x h image:
 * [x0, x0 + cw) x [y0, y0 + ch) in full-resolution pixels, and the flip bit.
 * Up to 10 tries of (area, log-uniform ratio) as torchvision, then the
 * largest central crop within the ratio range. */
void bb_imagefolder_crop_draw(const bb_imagefolder_options *o, uint64_t seed, int64_t epoch, int64_t index, int64_t w,
                              int64_t h, int64_t *x0, int64_t *y0, int64_t *cw, int64_t *ch, int *flip);
/* Evaluation geometry of a w x h image: resized to rw x rh (short side
 * eval_resize, long side truncated as torchvision's Resize), crop at (left, top). */
void bb_imagefolder_eval_geometry(const bb_imagefolder_options *o, int64_t w, int64_t h, int64_t *rw, int64_t *rh,
                                  int64_t *left, int64_t *top);

#endif
