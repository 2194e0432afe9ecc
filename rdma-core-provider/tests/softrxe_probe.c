// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * softrxe_probe DEV provider   print which shared object serves DEV's
 *                              verbs (the provider libibverbs picked)
 * softrxe_probe DEV odp        compare ibv_query_device_ex()'s ODP caps
 *                              with the kernel's own answer
 * softrxe_probe DEV advise     ibv_advise_mr() reaches the kernel: the
 *                              provider's ioctl is captured and compared
 *                              with the same ioctl issued directly
 *
 * Lines: "ok NAME" / "FAIL NAME: why" / "info ...". Exit 0 iff no FAIL.
 */
#include <dlfcn.h>
#include <stdarg.h>
#include <unistd.h>

#include <rdma/ib_user_ioctl_cmds.h>
#include <rdma/ib_user_ioctl_verbs.h>
#include <rdma/ib_user_verbs.h>
#include <rdma/rdma_user_ioctl.h>

#include "common.h"

/* ------------------------------------------------ ioctl() interposition */

/*
 * libibverbs issues its ioctls through the dynamic symbol "ioctl"; this
 * executable exports its own (-rdynamic), so every uverbs ioctl the
 * provider makes passes here and is recorded before reaching libc.
 */
static int (*real_ioctl)(int, unsigned long, ...);

static struct {
	bool armed;
	int advise_calls;	/* UVERBS_METHOD_ADVISE_MR ioctls seen */
	int ret, err;		/* what the kernel answered the last one */
	uint64_t advice, flags;
	uint64_t sge_ptr;
	uint32_t sge_len;
	uint32_t pd_handle;
} seen;

static int call_real(int fd, unsigned long req, void *arg)
{
	if (!real_ioctl)
		real_ioctl = (int (*)(int, unsigned long, ...))dlsym(RTLD_NEXT, "ioctl");
	return real_ioctl(fd, req, arg);
}

int ioctl(int fd, unsigned long req, ...)
{
	struct ib_uverbs_ioctl_hdr *h;
	va_list ap;
	void *arg;
	int ret, err;
	unsigned int i;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);

	ret = call_real(fd, req, arg);
	err = errno;
	h = arg;
	if (seen.armed && req == RDMA_VERBS_IOCTL &&
	    h->object_id == UVERBS_OBJECT_MR &&
	    h->method_id == UVERBS_METHOD_ADVISE_MR) {
		seen.advise_calls++;
		seen.ret = ret;
		seen.err = ret ? err : 0;
		for (i = 0; i < h->num_attrs; i++) {
			const struct ib_uverbs_attr *a = &h->attrs[i];

			switch (a->attr_id) {
			case UVERBS_ATTR_ADVISE_MR_PD_HANDLE:
				seen.pd_handle = (uint32_t)a->data;
				break;
			case UVERBS_ATTR_ADVISE_MR_ADVICE:
				seen.advice = a->data;
				break;
			case UVERBS_ATTR_ADVISE_MR_FLAGS:
				seen.flags = (uint32_t)a->data;
				break;
			case UVERBS_ATTR_ADVISE_MR_SGE_LIST:
				seen.sge_ptr = a->data;
				seen.sge_len = a->len;
				break;
			}
		}
	}
	errno = err;
	return ret;
}

/* The advise ioctl as the kernel's uAPI defines it, issued by hand. */
static int raw_advise(struct ibv_pd *pd, uint32_t advice, uint32_t flags,
		      struct ibv_sge *sg, uint32_t n)
{
	/* header, then its four attributes (attrs[] is a flexible array) */
	uint64_t buf[(sizeof(struct ib_uverbs_ioctl_hdr) +
		      4 * sizeof(struct ib_uverbs_attr)) / 8];
	struct ib_uverbs_ioctl_hdr *h = (struct ib_uverbs_ioctl_hdr *)buf;

	memset(buf, 0, sizeof(buf));
	h->length = sizeof(buf);
	h->object_id = UVERBS_OBJECT_MR;
	h->method_id = UVERBS_METHOD_ADVISE_MR;
	h->num_attrs = 4;
	h->driver_id = RDMA_DRIVER_RXE;
	h->attrs[0] = (struct ib_uverbs_attr){
		.attr_id = UVERBS_ATTR_ADVISE_MR_PD_HANDLE,
		.flags = UVERBS_ATTR_F_MANDATORY, .data = pd->handle };
	h->attrs[1] = (struct ib_uverbs_attr){
		.attr_id = UVERBS_ATTR_ADVISE_MR_ADVICE, .len = 8,
		.flags = UVERBS_ATTR_F_MANDATORY, .data = advice };
	h->attrs[2] = (struct ib_uverbs_attr){
		.attr_id = UVERBS_ATTR_ADVISE_MR_FLAGS, .len = 4,
		.flags = UVERBS_ATTR_F_MANDATORY, .data = flags };
	h->attrs[3] = (struct ib_uverbs_attr){
		.attr_id = UVERBS_ATTR_ADVISE_MR_SGE_LIST,
		.len = (uint16_t)(n * sizeof(*sg)),
		.flags = UVERBS_ATTR_F_MANDATORY, .data = (uintptr_t)sg };
	if (call_real(pd->context->cmd_fd, RDMA_VERBS_IOCTL, h))
		return errno;
	return 0;
}

/* ------------------------------------------------------------- provider */

static int do_provider(struct env *e)
{
	Dl_info info;

	/* verbs_set_ops() copies the provider's poll_cq into the context */
	if (!dladdr((void *)e->ctx->ops.poll_cq, &info) || !info.dli_fname) {
		printf("FAIL provider: dladdr\n");
		return 1;
	}
	printf("provider %s\n", info.dli_fname);
	return 0;
}

/* ------------------------------------------------------------------ odp */

static int kernel_query_ex(struct ibv_context *ctx,
			   struct ib_uverbs_ex_query_device_resp *resp)
{
	struct {
		struct ib_uverbs_cmd_hdr hdr;
		struct ib_uverbs_ex_cmd_hdr ex;
		struct ib_uverbs_ex_query_device q;
	} cmd;

	memset(&cmd, 0, sizeof(cmd));
	memset(resp, 0, sizeof(*resp));
	cmd.hdr.command = IB_USER_VERBS_CMD_FLAG_EXTENDED |
			  IB_USER_VERBS_EX_CMD_QUERY_DEVICE;
	cmd.hdr.in_words = sizeof(cmd.q) / 8;
	cmd.hdr.out_words = sizeof(*resp) / 8;
	cmd.ex.response = (uintptr_t)resp;
	if (write(ctx->cmd_fd, &cmd, sizeof(cmd)) != sizeof(cmd))
		return errno;
	return 0;
}

static int do_odp(struct env *e)
{
	struct ib_uverbs_ex_query_device_resp k;
	struct ibv_device_attr_ex a;
	int ret;

	current_case = "odp_caps";
	memset(&a, 0xa5, sizeof(a));	/* nothing may be left unset */
	ret = ibv_query_device_ex(e->ctx, NULL, &a);
	if (ret) {
		failf("ibv_query_device_ex: %s", strerror(ret));
		return 1;
	}
	ret = kernel_query_ex(e->ctx, &k);
	if (ret) {
		failf("kernel query: %s", strerror(ret));
		return 1;
	}
	printf("info lib general=0x%llx rc=0x%x uc=0x%x ud=0x%x xrc=0x%x\n",
	       (unsigned long long)a.odp_caps.general_caps,
	       a.odp_caps.per_transport_caps.rc_odp_caps,
	       a.odp_caps.per_transport_caps.uc_odp_caps,
	       a.odp_caps.per_transport_caps.ud_odp_caps, a.xrc_odp_caps);
	printf("info kernel general=0x%llx rc=0x%x uc=0x%x ud=0x%x xrc=0x%x len=%u\n",
	       (unsigned long long)k.odp_caps.general_caps,
	       k.odp_caps.per_transport_caps.rc_odp_caps,
	       k.odp_caps.per_transport_caps.uc_odp_caps,
	       k.odp_caps.per_transport_caps.ud_odp_caps, k.xrc_odp_caps,
	       k.response_length);
	if (a.odp_caps.general_caps != k.odp_caps.general_caps ||
	    a.odp_caps.per_transport_caps.rc_odp_caps != k.odp_caps.per_transport_caps.rc_odp_caps ||
	    a.odp_caps.per_transport_caps.uc_odp_caps != k.odp_caps.per_transport_caps.uc_odp_caps ||
	    a.odp_caps.per_transport_caps.ud_odp_caps != k.odp_caps.per_transport_caps.ud_odp_caps ||
	    a.xrc_odp_caps != k.xrc_odp_caps) {
		failf("ODP caps differ from the kernel's");
		return 1;
	}
	if (a.device_cap_flags_ex != k.device_cap_flags_ex) {
		failf("device_cap_flags_ex 0x%llx, kernel 0x%llx",
		      (unsigned long long)a.device_cap_flags_ex,
		      (unsigned long long)k.device_cap_flags_ex);
		return 1;
	}
	printf("ok odp_caps\n");
	return 0;
}

/* --------------------------------------------------------------- advise */

static const struct {
	enum ibv_advise_mr_advice advice;
	const char *name;
} advices[] = {
	{ IBV_ADVISE_MR_ADVICE_PREFETCH, "PREFETCH" },
	{ IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE, "PREFETCH_WRITE" },
	{ IBV_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT, "PREFETCH_NO_FAULT" },
};

/* One good call: the provider's ioctl carries our arguments, and its
 * result is the kernel's result for the very same request. */
static int advise_passes_through(struct env *e, struct ibv_mr *mr, uint8_t *buf,
				 int i, uint32_t flags)
{
	struct ibv_sge sg[2] = {
		{ (uintptr_t)buf, 4096, mr->lkey },
		{ (uintptr_t)buf + 8192, 8192, mr->lkey },
	};
	int ret, raw;

	memset(&seen, 0, sizeof(seen));
	seen.armed = true;
	ret = ibv_advise_mr(e->pd, advices[i].advice, flags, sg, 2);
	seen.armed = false;
	raw = raw_advise(e->pd, advices[i].advice, flags, sg, 2);
	printf("info advise %s flags=0x%x provider=%d (%s) kernel=%d\n",
	       advices[i].name, flags, ret, strerror(ret), raw);
	CHECK(seen.advise_calls == 1,
	      "%d ADVISE_MR ioctls issued, want 1 (the call returned %d)",
	      seen.advise_calls, ret);
	CHECK(seen.advice == advices[i].advice && seen.flags == flags &&
	      seen.pd_handle == e->pd->handle &&
	      seen.sge_ptr == (uintptr_t)sg && seen.sge_len == sizeof(sg),
	      "ioctl arguments: advice %llu flags 0x%llx pd %u sge %llx/%u",
	      (unsigned long long)seen.advice, (unsigned long long)seen.flags,
	      seen.pd_handle, (unsigned long long)seen.sge_ptr, seen.sge_len);
	CHECK(ret == seen.err, "returned %d, the ioctl said %d", ret, seen.err);
	CHECK(ret == raw, "returned %d, the kernel answers %d to the same request",
	      ret, raw);
	return 0;
}

static int advise_refused(struct env *e, const char *what,
			  enum ibv_advise_mr_advice advice, uint32_t flags,
			  struct ibv_sge *sg, uint32_t n)
{
	int ret;

	memset(&seen, 0, sizeof(seen));
	seen.armed = true;
	ret = ibv_advise_mr(e->pd, advice, flags, sg, n);
	seen.armed = false;
	CHECK(ret == EINVAL, "%s: returned %d, want EINVAL", what, ret);
	CHECK(seen.advise_calls == 0, "%s: reached the kernel", what);
	return 0;
}

static int do_advise(struct env *e)
{
	struct ibv_device_attr_ex da;
	struct ibv_sge sg, *many;
	struct ibv_mr *mr;
	uint8_t *buf;
	int access = IBV_ACCESS_LOCAL_WRITE, i, f;
	char name[64];

	buf = aligned_alloc(4096, 1 << 16);
	if (!buf || ibv_query_device_ex(e->ctx, NULL, &da))
		die("setup");
	memset(buf, 0, 1 << 16);
	/* an ODP MR where the kernel offers ODP, a pinned one otherwise */
	if (da.odp_caps.general_caps & IBV_ODP_SUPPORT)
		access |= IBV_ACCESS_ON_DEMAND;
	mr = ibv_reg_mr(e->pd, buf, 1 << 16, access);
	if (!mr)
		die("ibv_reg_mr");
	printf("info mr %s\n", access & IBV_ACCESS_ON_DEMAND ? "odp" : "pinned");

	for (i = 0; i < 3; i++)
		for (f = 0; f < 2; f++) {
			snprintf(name, sizeof(name), "advise_%s%s", advices[i].name,
				 f ? "_FLUSH" : "");
			current_case = name;
			if (!advise_passes_through(e, mr, buf, i,
						   f ? IBV_ADVISE_MR_FLAG_FLUSH : 0))
				printf("ok %s\n", name);
		}

	sg = (struct ibv_sge){ (uintptr_t)buf, 4096, mr->lkey };
	many = calloc(5000, sizeof(*many));
	if (!many)
		die("calloc");
	for (i = 0; i < 5000; i++)
		many[i] = sg;
	current_case = "advise_bad_input";
	if (!advise_refused(e, "NULL sg_list", IBV_ADVISE_MR_ADVICE_PREFETCH, 0, NULL, 1) &&
	    !advise_refused(e, "num_sge 0", IBV_ADVISE_MR_ADVICE_PREFETCH, 0, &sg, 0) &&
	    !advise_refused(e, "unknown flag", IBV_ADVISE_MR_ADVICE_PREFETCH, 1u << 1, &sg, 1) &&
	    !advise_refused(e, "all flags", IBV_ADVISE_MR_ADVICE_PREFETCH, ~0u, &sg, 1) &&
	    !advise_refused(e, "unknown advice", (enum ibv_advise_mr_advice)3, 0, &sg, 1) &&
	    !advise_refused(e, "5000 SGEs", IBV_ADVISE_MR_ADVICE_PREFETCH, 0, many, 5000))
		printf("ok advise_bad_input\n");
	free(many);
	ibv_dereg_mr(mr);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	struct env e;
	int ret;

	if (argc < 3) {
		fprintf(stderr, "usage: %s DEV provider|odp|advise [GID_INDEX]\n", argv[0]);
		return 2;
	}
	open_env(&e, argv[1], argc > 3 ? atoi(argv[3]) : 0);
	if (!strcmp(argv[2], "provider"))
		ret = do_provider(&e);
	else if (!strcmp(argv[2], "odp"))
		ret = do_odp(&e);
	else if (!strcmp(argv[2], "advise"))
		ret = do_advise(&e);
	else
		return 2;
	return ret || failures ? 1 : 0;
}
