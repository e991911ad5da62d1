// SPDX-License-Identifier: MIT
#include "tun/nft.h"

#include <errno.h>
#include <nftables/libnftables.h>
#include <stdio.h>
#include <string.h>

/* The first line of libnftables' error text that says something: its messages start with
 * "Error: ..." followed by the offending input and a line of carets. */
static void first_line(const char *text, char error[FERRY_NFT_ERROR_MAX])
{
	size_t n;

	while (text && (*text == '\n' || *text == ' '))
		text++;
	if (!text || !*text) {
		snprintf(error, FERRY_NFT_ERROR_MAX, "nftables refused the rules");
		return;
	}
	n = strcspn(text, "\n");
	snprintf(error, FERRY_NFT_ERROR_MAX, "%.*s",
		 (int)(n < FERRY_NFT_ERROR_MAX ? n : FERRY_NFT_ERROR_MAX - 1), text);
}

int ferry_nft_run(const char *script, char *out, size_t cap, char error[FERRY_NFT_ERROR_MAX])
{
	struct nft_ctx *ctx = nft_ctx_new(NFT_CTX_DEFAULT);
	int err = 0;

	if (error)
		error[0] = '\0';
	if (out && cap)
		out[0] = '\0';
	if (!ctx)
		return -ENOMEM;
	if (nft_ctx_buffer_output(ctx) != 0 || nft_ctx_buffer_error(ctx) != 0) {
		err = -ENOMEM;
		goto done;
	}
	if (nft_run_cmd_from_buffer(ctx, script) != 0) {
		err = -EINVAL;
		if (error)
			first_line(nft_ctx_get_error_buffer(ctx), error);
		goto done;
	}
	if (out && cap)
		snprintf(out, cap, "%s", nft_ctx_get_output_buffer(ctx));
done:
	nft_ctx_free(ctx);
	return err;
}
