// JPEG (libjpeg-turbo) and PNG (libpng) decoding to 8-bit RGB; see include/dw_image_decode.h.
#include "dw_image_decode.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

static void set_error(char *error, size_t size, const char *what, const char *detail) {
    if (size == 0) return;
    snprintf(error, size, "%s%s%s", what, detail && *detail ? ": " : "", detail ? detail : "");
    for (char *p = error; *p; p++) if (*p == '\n' || *p == '\r') *p = ' ';
}

static int too_large(int width, int height, size_t max_pixels, char *error, size_t error_size) {
    if (width <= 0 || height <= 0) {
        set_error(error, error_size, "image has no pixels", NULL);
        return 1;
    }
    if ((size_t)width * (size_t)height > max_pixels) {
        char detail[96];
        snprintf(detail, sizeof detail, "%d x %d pixels, more than the %zu allowed", width, height, max_pixels);
        set_error(error, error_size, "image is too large", detail);
        return 1;
    }
    return 0;
}

// ---- JPEG ----------------------------------------------------------------------------------------------

struct jpeg_failure {
    struct jpeg_error_mgr manager;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
};

static void jpeg_fail(j_common_ptr cinfo) {
    struct jpeg_failure *f = (struct jpeg_failure *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, f->message);
    longjmp(f->jump, 1);
}

// Warnings: a file that ends early ("Premature end of JPEG file") is an error, as it is for PIL; the
// other recoverable ones (extraneous bytes before a marker, …) are ignored, as PIL ignores them.
static void jpeg_warn(j_common_ptr cinfo, int level) {
    if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) jpeg_fail(cinfo);
}

static int decode_jpeg(const unsigned char *data, size_t size, size_t max_pixels, dw_image *out, char *error, size_t error_size) {
    struct jpeg_decompress_struct cinfo;
    struct jpeg_failure failure;
    unsigned char *volatile rgb = NULL;
    unsigned char *volatile row = NULL;
    cinfo.err = jpeg_std_error(&failure.manager);
    failure.manager.error_exit = jpeg_fail;
    failure.manager.emit_message = jpeg_warn;
    failure.message[0] = 0;
    if (setjmp(failure.jump)) {
        set_error(error, error_size, "corrupt JPEG", failure.message);
        jpeg_destroy_decompress(&cinfo);
        free(rgb);
        free(row);
        return 1;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    if (too_large((int)cinfo.image_width, (int)cinfo.image_height, max_pixels, error, error_size)) {
        jpeg_destroy_decompress(&cinfo);
        return 1;
    }
    int cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    int gray = cinfo.jpeg_color_space == JCS_GRAYSCALE;
    cinfo.out_color_space = cmyk ? JCS_CMYK : gray ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&cinfo);
    size_t width = cinfo.output_width, height = cinfo.output_height;
    int components = cinfo.output_components;
    rgb = malloc(width * height * 3);
    row = malloc(width * (size_t)components);
    if (!rgb || !row) {
        set_error(error, error_size, "out of memory decoding the JPEG", NULL);
        jpeg_destroy_decompress(&cinfo);
        free(rgb);
        free(row);
        return 1;
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        size_t y = cinfo.output_scanline;
        JSAMPROW rows[1] = {row};
        jpeg_read_scanlines(&cinfo, rows, 1);
        unsigned char *o = rgb + y * width * 3;
        for (size_t x = 0; x < width; x++) {
            if (components == 3) {
                o[3 * x] = row[3 * x]; o[3 * x + 1] = row[3 * x + 1]; o[3 * x + 2] = row[3 * x + 2];
            } else if (components == 1) {
                o[3 * x] = o[3 * x + 1] = o[3 * x + 2] = row[x];
            } else {
                // PIL: Adobe CMYK JPEGs are stored inverted ("CMYK;I"); then cmyk2rgb.
                int c[4];
                for (int i = 0; i < 4; i++) c[i] = cinfo.saw_Adobe_marker ? 255 - row[4 * x + i] : row[4 * x + i];
                int nk = 255 - c[3];
                for (int i = 0; i < 3; i++) {
                    int t = c[i] * nk + 128;
                    int v = nk - (((t >> 8) + t) >> 8);
                    o[3 * x + i] = (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
                }
            }
        }
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    free(row);
    out->width = (int)width;
    out->height = (int)height;
    out->rgb = rgb;
    return 0;
}

// ---- PNG -----------------------------------------------------------------------------------------------

struct png_source {
    const unsigned char *data;
    size_t size, at;
    char message[200];
};

static void png_read_memory(png_structp png, png_bytep out, png_size_t n) {
    struct png_source *s = png_get_io_ptr(png);
    if (n > s->size - s->at) png_error(png, "file ends early (truncated)");
    memcpy(out, s->data + s->at, n);
    s->at += n;
}

static void png_fail(png_structp png, png_const_charp message) {
    struct png_source *s = png_get_error_ptr(png);
    snprintf(s->message, sizeof s->message, "%s", message);
    png_longjmp(png, 1);
}

static void png_warn(png_structp png, png_const_charp message) { (void)png; (void)message; }

static int decode_png(const unsigned char *data, size_t size, size_t max_pixels, dw_image *out, char *error, size_t error_size) {
    struct png_source source = {data, size, 0, {0}};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &source, png_fail, png_warn);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    unsigned char *volatile rgb = NULL;
    png_bytep *volatile rows = NULL;
    if (!png || !info) {
        set_error(error, error_size, "out of memory decoding the PNG", NULL);
        png_destroy_read_struct(png ? &png : NULL, NULL, NULL);
        return 1;
    }
    if (setjmp(png_jmpbuf(png))) {
        set_error(error, error_size, "corrupt PNG", source.message);
        png_destroy_read_struct(&png, &info, NULL);
        free(rgb);
        free(rows);
        return 1;
    }
    png_set_read_fn(png, &source, png_read_memory);
    png_set_crc_action(png, PNG_CRC_ERROR_QUIT, PNG_CRC_ERROR_QUIT);
    png_read_info(png, info);
    png_uint_32 width = png_get_image_width(png, info), height = png_get_image_height(png, info);
    if (width > 0x7FFFFFFF || height > 0x7FFFFFFF || too_large((int)width, (int)height, max_pixels, error, error_size)) {
        if (width > 0x7FFFFFFF || height > 0x7FFFFFFF) set_error(error, error_size, "image is too large", NULL);
        png_destroy_read_struct(&png, &info, NULL);
        return 1;
    }
    int type = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    // PIL's convert("RGB"): palettes expanded (transparency ignored), gray replicated, alpha dropped,
    // 16-bit samples to their high byte, no gamma correction.
    if (type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (type == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16) png_set_strip_16(png);
    if (type == PNG_COLOR_TYPE_GRAY || type == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    if (type & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != (size_t)width * 3) png_error(png, "unexpected row layout after conversion to RGB");
    rgb = malloc((size_t)width * height * 3);
    rows = malloc(sizeof(png_bytep) * height);
    if (!rgb || !rows) png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < height; y++) rows[y] = rgb + (size_t)y * width * 3;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    out->width = (int)width;
    out->height = (int)height;
    out->rgb = rgb;
    return 0;
}

int dw_image_decode(const unsigned char *data, size_t size, size_t max_pixels, dw_image *out, char *error, size_t error_size) {
    out->width = out->height = 0;
    out->rgb = NULL;
    if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) return decode_jpeg(data, size, max_pixels, out, error, error_size);
    if (size >= 8 && memcmp(data, "\x89PNG\r\n\x1a\n", 8) == 0) return decode_png(data, size, max_pixels, out, error, error_size);
    set_error(error, error_size, "not a JPEG or PNG file", NULL);
    return 1;
}

void dw_image_free(dw_image *image) {
    free(image->rgb);
    image->rgb = NULL;
}
