// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * softrxe.c - provider registration, device and context, and the verbs
 * that are plain kernel commands: device/port queries, PDs, MRs (with
 * ibv_advise_mr), MWs, AHs, multicast.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rdma/ib_user_ioctl_verbs.h>

#include "softrxe.h"

/* ------------------------------------------------------------------ query */

static int softrxe_query_device_ex(struct ibv_context *ctx,
				   const struct ibv_query_device_ex_input *input,
				   struct ibv_device_attr_ex *attr,
				   size_t attr_size)
{
	struct ib_uverbs_ex_query_device_resp resp;
	size_t resp_size = sizeof(resp);
	uint64_t fw;
	int ret;

	if (!attr || attr_size < sizeof(attr->orig_attr))
		return EINVAL;
	if (input && input->comp_mask)
		return EINVAL;

	/*
	 * libibverbs parses the kernel's extended answer, ODP caps included
	 * (odp_caps, xrc_odp_caps), into as much of 'attr' as the caller's
	 * attr_size covers; we add nothing and hide nothing.
	 */
	memset(&resp, 0, sizeof(resp));
	ret = ibv_cmd_query_device_any(ctx, input, attr, attr_size, &resp,
				       &resp_size);
	if (ret)
		return ret;

	/* rxe encodes the firmware version as 16-bit major.minor.sub_minor */
	fw = resp.base.fw_ver;
	snprintf(attr->orig_attr.fw_ver, sizeof(attr->orig_attr.fw_ver),
		 "%u.%u.%u", (unsigned int)(fw >> 32) & 0xffff,
		 (unsigned int)(fw >> 16) & 0xffff, (unsigned int)fw & 0xffff);
	return 0;
}

static int softrxe_query_port(struct ibv_context *ctx, uint8_t port,
			      struct ibv_port_attr *attr)
{
	struct ibv_query_port cmd;

	if (!attr)
		return EINVAL;
	return ibv_cmd_query_port(ctx, port, attr, &cmd, sizeof(cmd));
}

/* --------------------------------------------------------------------- PD */

/*
 * A parent domain is a PD alias that carries application context and
 * buffer allocators. rxe's queues are allocated by the kernel and mapped,
 * so softrxe never allocates on a domain's behalf: the allocators are
 * accepted and not called. The alias shares the real PD's handle, so every
 * kernel command made with it acts on the real PD.
 */
struct softrxe_pd {
	struct ibv_pd ibv_pd;
	struct ibv_pd *real;		/* parent domain: the PD it stands for */
};

static struct ibv_pd *softrxe_alloc_pd(struct ibv_context *ctx)
{
	struct ib_uverbs_alloc_pd_resp resp;
	struct ibv_alloc_pd cmd;
	struct softrxe_pd *pd;
	int ret;

	pd = calloc(1, sizeof(*pd));
	if (!pd)
		return NULL;
	ret = ibv_cmd_alloc_pd(ctx, &pd->ibv_pd, &cmd, sizeof(cmd), &resp,
			       sizeof(resp));
	if (ret) {
		free(pd);
		return null_errno(ret);
	}
	return &pd->ibv_pd;
}

static struct ibv_pd *
softrxe_alloc_parent_domain(struct ibv_context *ctx,
			    struct ibv_parent_domain_init_attr *attr)
{
	struct softrxe_pd *pd;

	if (!attr || !attr->pd || attr->pd->context != ctx)
		return null_errno(EINVAL);
	if (attr->comp_mask & ~(uint32_t)(IBV_PARENT_DOMAIN_INIT_ATTR_ALLOCATORS |
					  IBV_PARENT_DOMAIN_INIT_ATTR_PD_CONTEXT))
		return null_errno(EOPNOTSUPP);
	if (attr->td)			/* no thread domains on rxe */
		return null_errno(EOPNOTSUPP);
	pd = calloc(1, sizeof(*pd));
	if (!pd)
		return NULL;
	pd->ibv_pd.context = ctx;
	pd->ibv_pd.handle = attr->pd->handle;
	pd->real = attr->pd;
	return &pd->ibv_pd;
}

static int softrxe_dealloc_pd(struct ibv_pd *ibpd)
{
	struct softrxe_pd *pd = softrxe_container_of(ibpd, struct softrxe_pd, ibv_pd);
	int ret;

	if (!pd->real) {
		ret = ibv_cmd_dealloc_pd(ibpd);
		if (ret)
			return ret;
	}
	free(pd);
	return 0;
}

/* --------------------------------------------------------------------- MR */

static struct ibv_mr *softrxe_reg_mr(struct ibv_pd *pd, void *addr,
				     size_t length, uint64_t hca_va, int access)
{
	struct ib_uverbs_reg_mr_resp resp;
	struct ibv_reg_mr cmd;
	struct verbs_mr *vmr;
	int ret;

	/* ODP (IBV_ACCESS_ON_DEMAND), implicit ODP included, is the kernel's call */
	vmr = calloc(1, sizeof(*vmr));
	if (!vmr)
		return NULL;
	ret = ibv_cmd_reg_mr(pd, addr, length, hca_va, access, vmr, &cmd,
			     sizeof(cmd), &resp, sizeof(resp));
	if (ret) {
		free(vmr);
		return null_errno(ret);
	}
	return &vmr->ibv_mr;
}

/*
 * rdma_rxe re-registers in place for a new PD and/or new access flags;
 * it refuses a new translation (EOPNOTSUPP), which is then the answer.
 * libibverbs reports any failure as IBV_REREG_MR_ERR_CMD with errno.
 */
static int softrxe_rereg_mr(struct verbs_mr *vmr, int flags, struct ibv_pd *pd,
			    void *addr, size_t length, int access)
{
	struct ib_uverbs_rereg_mr_resp resp;
	struct ibv_rereg_mr cmd;
	int ret;

	if ((flags & IBV_REREG_MR_CHANGE_PD) && !pd) {
		errno = EINVAL;
		return IBV_REREG_MR_ERR_INPUT;
	}
	memset(&cmd, 0, sizeof(cmd));
	ret = ibv_cmd_rereg_mr(vmr, (uint32_t)flags, addr, length,
			       (uintptr_t)addr, access, pd, &cmd, sizeof(cmd),
			       &resp, sizeof(resp));
	if (ret) {
		errno = ret;
		return IBV_REREG_MR_ERR_CMD;
	}
	return 0;
}

static int softrxe_dereg_mr(struct verbs_mr *vmr)
{
	int ret = ibv_cmd_dereg_mr(vmr);

	if (!ret)
		free(vmr);
	return ret;
}

/*
 * ibv_advise_mr(): prefetch (PREFETCH, PREFETCH_WRITE, PREFETCH_NO_FAULT),
 * synchronous with IBV_ADVISE_MR_FLAG_FLUSH. Arguments the kernel's uAPI
 * cannot express are refused here; everything else goes to the kernel and
 * its answer is returned unchanged (EOPNOTSUPP from a kernel without
 * advise_mr for rxe).
 */
#define SOFTRXE_ADVISE_MAX_SGE (UINT16_MAX / sizeof(struct ibv_sge))

static int softrxe_advise_mr(struct ibv_pd *pd,
			     enum ibv_advise_mr_advice advice, uint32_t flags,
			     struct ibv_sge *sg_list, uint32_t num_sge)
{
	if (!pd || !sg_list || num_sge == 0)
		return EINVAL;
	/* the ioctl attribute length is 16 bits */
	if (num_sge > SOFTRXE_ADVISE_MAX_SGE)
		return EINVAL;
	if (flags & ~(uint32_t)IBV_ADVISE_MR_FLAG_FLUSH)
		return EINVAL;
	switch (advice) {
	case IBV_ADVISE_MR_ADVICE_PREFETCH:
	case IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE:
	case IBV_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT:
		break;
	default:
		return EINVAL;
	}
	return ibv_cmd_advise_mr(pd, advice, flags, sg_list, num_sge);
}

/* --------------------------------------------------------------------- MW */

static struct ibv_mw *softrxe_alloc_mw(struct ibv_pd *pd, enum ibv_mw_type type)
{
	struct ib_uverbs_alloc_mw_resp resp;
	struct ibv_alloc_mw cmd;
	struct ibv_mw *mw;
	int ret;

	mw = calloc(1, sizeof(*mw));
	if (!mw)
		return NULL;
	memset(&cmd, 0, sizeof(cmd));
	ret = ibv_cmd_alloc_mw(pd, type, mw, &cmd, sizeof(cmd), &resp,
			       sizeof(resp));
	if (ret) {
		free(mw);
		return null_errno(ret);
	}
	return mw;
}

static int softrxe_dealloc_mw(struct ibv_mw *mw)
{
	int ret = ibv_cmd_dealloc_mw(mw);

	if (!ret)
		free(mw);
	return ret;
}

/* --------------------------------------------------------------------- AH */

static struct ibv_ah *softrxe_create_ah(struct ibv_pd *pd,
					struct ibv_ah_attr *attr)
{
	struct softrxe_ah_resp resp;
	struct softrxe_ah *ah;
	int ret;

	if (!attr)
		return null_errno(EINVAL);
	ah = calloc(1, sizeof(*ah));
	if (!ah)
		return NULL;
	memset(&resp, 0, sizeof(resp));
	ret = ibv_cmd_create_ah(pd, &ah->ibv_ah, attr,
				(struct ib_uverbs_create_ah_resp *)resp.core,
				sizeof(resp));
	if (ret) {
		free(ah);
		return null_errno(ret);
	}
	/*
	 * Kernels since 5.10 give UD WQEs an AH index; softrxe does not carry
	 * the address-vector fallback that older kernels needed.
	 */
	if (resp.drv.ah_num == 0) {
		ibv_cmd_destroy_ah(&ah->ibv_ah);
		free(ah);
		return null_errno(EPROTONOSUPPORT);
	}
	ah->ah_num = resp.drv.ah_num;
	return &ah->ibv_ah;
}

static int softrxe_destroy_ah(struct ibv_ah *ibah)
{
	int ret = ibv_cmd_destroy_ah(ibah);

	if (!ret)
		free(to_sah(ibah));
	return ret;
}

/* ---------------------------------------------------------------- context */

static void softrxe_free_context(struct ibv_context *ibctx);

static const struct verbs_context_ops softrxe_ops = {
	.advise_mr = softrxe_advise_mr,
	.alloc_mw = softrxe_alloc_mw,
	.alloc_parent_domain = softrxe_alloc_parent_domain,
	.alloc_pd = softrxe_alloc_pd,
	.attach_mcast = ibv_cmd_attach_mcast,
	.bind_mw = softrxe_bind_mw,
	.create_ah = softrxe_create_ah,
	.create_cq = softrxe_create_cq,
	.create_cq_ex = softrxe_create_cq_ex,
	.create_qp = softrxe_create_qp,
	.create_qp_ex = softrxe_create_qp_ex,
	.create_srq = softrxe_create_srq,
	.create_srq_ex = softrxe_create_srq_ex,
	.dealloc_mw = softrxe_dealloc_mw,
	.dealloc_pd = softrxe_dealloc_pd,
	.dereg_mr = softrxe_dereg_mr,
	.destroy_ah = softrxe_destroy_ah,
	.destroy_cq = softrxe_destroy_cq,
	.destroy_qp = softrxe_destroy_qp,
	.destroy_srq = softrxe_destroy_srq,
	.detach_mcast = ibv_cmd_detach_mcast,
	.free_context = softrxe_free_context,
	.modify_qp = softrxe_modify_qp,
	.modify_srq = softrxe_modify_srq,
	.poll_cq = softrxe_poll_cq,
	.post_recv = softrxe_post_recv,
	.post_send = softrxe_post_send,
	.post_srq_recv = softrxe_post_srq_recv,
	.query_device_ex = softrxe_query_device_ex,
	.query_port = softrxe_query_port,
	.query_qp = softrxe_query_qp,
	.query_srq = softrxe_query_srq,
	.reg_mr = softrxe_reg_mr,
	.req_notify_cq = ibv_cmd_req_notify_cq,
	.rereg_mr = softrxe_rereg_mr,
	.resize_cq = softrxe_resize_cq,
};

static struct verbs_context *softrxe_alloc_context(struct ibv_device *ibdev,
						   int cmd_fd,
						   void *private_data)
{
	struct ib_uverbs_get_context_resp resp;
	struct ibv_get_context cmd;
	struct softrxe_context *ctx;

	(void)private_data;
	ctx = _verbs_init_and_alloc_context(ibdev, cmd_fd, sizeof(*ctx),
			(struct verbs_context *)offsetof(struct softrxe_context, vctx),
			RDMA_DRIVER_RXE);
	if (!ctx)
		return NULL;
	if (ibv_cmd_get_context(&ctx->vctx, &cmd, sizeof(cmd), &resp,
				sizeof(resp))) {
		verbs_uninit_context(&ctx->vctx);
		free(ctx);
		return NULL;
	}
	verbs_set_ops(&ctx->vctx, &softrxe_ops);
	return &ctx->vctx;
}

static void softrxe_free_context(struct ibv_context *ibctx)
{
	struct softrxe_context *ctx =
		softrxe_container_of(ibctx, struct softrxe_context, vctx.context);

	verbs_uninit_context(&ctx->vctx);
	free(ctx);
}

/* ----------------------------------------------------------------- device */

static struct verbs_device *softrxe_alloc_device(struct verbs_sysfs_dev *sysfs)
{
	struct softrxe_device *dev;

	(void)sysfs;
	dev = calloc(1, sizeof(*dev));
	return dev ? &dev->vdev : NULL;
}

static void softrxe_uninit_device(struct verbs_device *vdev)
{
	free(softrxe_container_of(vdev, struct softrxe_device, vdev));
}

/*
 * rdma_rxe devices, recognised by the driver id netlink reports; the name
 * pattern is for kernels too old to report one.
 */
static const struct verbs_match_ent softrxe_match[] = {
	{ .u.driver_id = RDMA_DRIVER_RXE, .kind = VERBS_MATCH_DRIVER_ID },
	{ .u.modalias = "rdma_device:*Nrxe*", .kind = VERBS_MATCH_MODALIAS },
	{ .kind = VERBS_MATCH_SENTINEL },
};

static const struct verbs_device_ops softrxe_dev_ops = {
	.name = SOFTRXE_NAME,
	/*
	 * rxe's uverbs ABI is 2; ABI 1 had the same layout on 64-bit hosts
	 * only (pointer-sized fields).
	 */
	.match_min_abi_version = sizeof(void *) == 8 ? 1 : 2,
	.match_max_abi_version = 2,
	.match_table = softrxe_match,
	.alloc_device = softrxe_alloc_device,
	.uninit_device = softrxe_uninit_device,
	.alloc_context = softrxe_alloc_context,
};

/* dlopen() of the provider registers it; libibverbs matches in load order. */
static void __attribute__((constructor)) softrxe_register(void)
{
	verbs_register_driver(&softrxe_dev_ops);
}
