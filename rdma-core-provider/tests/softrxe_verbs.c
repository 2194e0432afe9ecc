// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * softrxe_verbs DEV GID_INDEX - data-path checks of the provider in use,
 * loopback on one device: every payload is compared byte by byte, every
 * completion's fields checked. Cases print "ok NAME" / "FAIL NAME: why".
 */
#include <arpa/inet.h>
#include <endian.h>

#include "common.h"

static int post_recv_sges(struct ibv_qp *qp, uint64_t id, struct ibv_sge *sg,
			  int n)
{
	struct ibv_recv_wr wr = { .wr_id = id, .sg_list = sg, .num_sge = n };
	struct ibv_recv_wr *bad;

	return ibv_post_recv(qp, &wr, &bad);
}

static int post_recv1(struct ibv_qp *qp, uint64_t id, void *addr, uint32_t len,
		      uint32_t lkey)
{
	struct ibv_sge sg = { (uintptr_t)addr, len, lkey };

	return post_recv_sges(qp, id, &sg, 1);
}

static int post_wr(struct ibv_qp *qp, struct ibv_send_wr *wr)
{
	struct ibv_send_wr *bad;

	return ibv_post_send(qp, wr, &bad);
}

static int send1(struct ibv_qp *qp, uint64_t id, void *addr, uint32_t len,
		 uint32_t lkey)
{
	struct ibv_sge sg = { (uintptr_t)addr, len, lkey };
	struct ibv_send_wr wr = {
		.wr_id = id, .sg_list = &sg, .num_sge = 1,
		.opcode = IBV_WR_SEND, .send_flags = IBV_SEND_SIGNALED,
	};

	return post_wr(qp, &wr);
}

/* Wait for one completion on cq and check it. */
static int expect_wc(struct ibv_cq *cq, uint64_t id, enum ibv_wc_opcode op,
		     struct ibv_wc *out)
{
	struct ibv_wc wc;

	if (poll_n(cq, &wc, 1) != 1) {
		failf("no completion for wr_id %llu", (unsigned long long)id);
		return -1;
	}
	if (wc.status != IBV_WC_SUCCESS || wc.wr_id != id || wc.opcode != op) {
		failf("completion wr_id %llu status %s opcode %d, want wr_id %llu opcode %d",
		      (unsigned long long)wc.wr_id, ibv_wc_status_str(wc.status),
		      wc.opcode, (unsigned long long)id, op);
		return -1;
	}
	if (out)
		*out = wc;
	return 0;
}

/* ----------------------------------------------------------------- cases */

static int rc_send_multi_sge(struct env *e)
{
	struct pair p;
	struct ibv_wc wc;
	uint8_t want[1500];
	struct ibv_sge rsg[2], ssg[3];
	struct ibv_send_wr wr = { 0 };

	CHECK(!make_pair(e, &p, IBV_QPT_RC, 16, 4, 64, 8192, MR_ALL, false),
	      "setup: %s", strerror(errno));
	pattern(p.buf[0], p.len, 1);
	rsg[0] = (struct ibv_sge){ (uintptr_t)p.buf[1], 1000, p.mr[1]->lkey };
	rsg[1] = (struct ibv_sge){ (uintptr_t)p.buf[1] + 4096, 1000, p.mr[1]->lkey };
	CHECK(!post_recv_sges(p.qp[1], 7, rsg, 2), "post_recv");
	ssg[0] = (struct ibv_sge){ (uintptr_t)p.buf[0], 300, p.mr[0]->lkey };
	ssg[1] = (struct ibv_sge){ (uintptr_t)p.buf[0] + 1000, 700, p.mr[0]->lkey };
	ssg[2] = (struct ibv_sge){ (uintptr_t)p.buf[0] + 3000, 500, p.mr[0]->lkey };
	memcpy(want, p.buf[0], 300);
	memcpy(want + 300, p.buf[0] + 1000, 700);
	memcpy(want + 1000, p.buf[0] + 3000, 500);
	wr.wr_id = 8;
	wr.sg_list = ssg;
	wr.num_sge = 3;
	wr.opcode = IBV_WR_SEND;
	wr.send_flags = IBV_SEND_SIGNALED;
	CHECK(!post_wr(p.qp[0], &wr), "post_send");
	CHECK(!expect_wc(p.cq[0], 8, IBV_WC_SEND, NULL), "send completion");
	CHECK(!expect_wc(p.cq[1], 7, IBV_WC_RECV, &wc), "recv completion");
	CHECK(wc.byte_len == 1500, "byte_len %u, want 1500", wc.byte_len);
	CHECK(wc.qp_num == p.qp[1]->qp_num, "qp_num %u", wc.qp_num);
	CHECK(!memcmp(p.buf[1], want, 1000) &&
	      !memcmp(p.buf[1] + 4096, want + 1000, 500), "payload differs");
	free_pair(&p);
	return 0;
}

static int rc_send_imm(struct env *e)
{
	struct pair p;
	struct ibv_wc wc;
	struct ibv_sge sg;
	struct ibv_send_wr wr = { 0 };

	CHECK(!make_pair(e, &p, IBV_QPT_RC, 16, 2, 0, 4096, MR_ALL, false),
	      "setup: %s", strerror(errno));
	pattern(p.buf[0], 64, 2);
	CHECK(!post_recv1(p.qp[1], 1, p.buf[1], 4096, p.mr[1]->lkey), "post_recv");
	sg = (struct ibv_sge){ (uintptr_t)p.buf[0], 64, p.mr[0]->lkey };
	wr.wr_id = 2;
	wr.sg_list = &sg;
	wr.num_sge = 1;
	wr.opcode = IBV_WR_SEND_WITH_IMM;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.imm_data = htobe32(0x12345678);
	CHECK(!post_wr(p.qp[0], &wr), "post_send");
	CHECK(!expect_wc(p.cq[0], 2, IBV_WC_SEND, NULL), "send completion");
	CHECK(!expect_wc(p.cq[1], 1, IBV_WC_RECV, &wc), "recv completion");
	CHECK(wc.wc_flags & IBV_WC_WITH_IMM, "wc_flags 0x%x lacks WITH_IMM", wc.wc_flags);
	CHECK(be32toh(wc.imm_data) == 0x12345678, "imm 0x%x", be32toh(wc.imm_data));
	CHECK(wc.byte_len == 64 && !memcmp(p.buf[0], p.buf[1], 64), "payload");
	free_pair(&p);
	return 0;
}

static int rc_write_read(struct env *e)
{
	struct pair p;
	struct ibv_wc wc;
	struct ibv_sge sg;
	struct ibv_send_wr wr = { 0 };

	CHECK(!make_pair(e, &p, IBV_QPT_RC, 16, 2, 0, 16384, MR_ALL, false),
	      "setup: %s", strerror(errno));
	pattern(p.buf[0], p.len, 3);
	/* write 5000 bytes at remote offset 100 */
	sg = (struct ibv_sge){ (uintptr_t)p.buf[0], 5000, p.mr[0]->lkey };
	wr.wr_id = 1;
	wr.sg_list = &sg;
	wr.num_sge = 1;
	wr.opcode = IBV_WR_RDMA_WRITE;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.wr.rdma.remote_addr = (uintptr_t)p.buf[1] + 100;
	wr.wr.rdma.rkey = p.mr[1]->rkey;
	CHECK(!post_wr(p.qp[0], &wr), "post write");
	CHECK(!expect_wc(p.cq[0], 1, IBV_WC_RDMA_WRITE, NULL), "write completion");
	CHECK(!memcmp(p.buf[1] + 100, p.buf[0], 5000), "written bytes differ");
	CHECK(p.buf[1][99] == 0 && p.buf[1][5100] == 0, "write spilled");

	/* write with immediate consumes a receive */
	CHECK(!post_recv1(p.qp[1], 9, p.buf[1], 16, p.mr[1]->lkey), "post_recv");
	sg.addr = (uintptr_t)p.buf[0] + 8000;
	sg.length = 3000;
	wr.wr_id = 2;
	wr.opcode = IBV_WR_RDMA_WRITE_WITH_IMM;
	wr.imm_data = htobe32(0xabcdef01);
	wr.wr.rdma.remote_addr = (uintptr_t)p.buf[1] + 10000;
	CHECK(!post_wr(p.qp[0], &wr), "post write_imm");
	CHECK(!expect_wc(p.cq[0], 2, IBV_WC_RDMA_WRITE, NULL), "write_imm completion");
	CHECK(!expect_wc(p.cq[1], 9, IBV_WC_RECV_RDMA_WITH_IMM, &wc), "recv completion");
	CHECK((wc.wc_flags & IBV_WC_WITH_IMM) && be32toh(wc.imm_data) == 0xabcdef01,
	      "imm flags 0x%x data 0x%x", wc.wc_flags, be32toh(wc.imm_data));
	CHECK(!memcmp(p.buf[1] + 10000, p.buf[0] + 8000, 3000), "write_imm bytes differ");

	/* read 7000 bytes back from the remote into local offset 9000 */
	pattern(p.buf[1], p.len, 4);
	sg.addr = (uintptr_t)p.buf[0] + 9000;
	sg.length = 7000;
	wr.wr_id = 3;
	wr.opcode = IBV_WR_RDMA_READ;
	wr.wr.rdma.remote_addr = (uintptr_t)p.buf[1] + 1;
	CHECK(!post_wr(p.qp[0], &wr), "post read");
	CHECK(!expect_wc(p.cq[0], 3, IBV_WC_RDMA_READ, &wc), "read completion");
	CHECK(wc.byte_len == 7000, "read byte_len %u", wc.byte_len);
	CHECK(!memcmp(p.buf[0] + 9000, p.buf[1] + 1, 7000), "read bytes differ");
	free_pair(&p);
	return 0;
}

static int rc_atomics(struct env *e)
{
	struct pair p;
	struct ibv_sge sg;
	struct ibv_send_wr wr = { 0 };
	uint64_t *remote, *result;

	CHECK(!make_pair(e, &p, IBV_QPT_RC, 16, 1, 0, 4096, MR_ALL, false),
	      "setup: %s", strerror(errno));
	remote = (uint64_t *)(p.buf[1] + 64);
	result = (uint64_t *)p.buf[0];
	*remote = 5;
	sg = (struct ibv_sge){ (uintptr_t)result, 8, p.mr[0]->lkey };
	wr.sg_list = &sg;
	wr.num_sge = 1;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.wr.atomic.remote_addr = (uintptr_t)remote;
	wr.wr.atomic.rkey = p.mr[1]->rkey;

	wr.wr_id = 1;
	wr.opcode = IBV_WR_ATOMIC_FETCH_AND_ADD;
	wr.wr.atomic.compare_add = 10;
	CHECK(!post_wr(p.qp[0], &wr), "post fetch_add");
	CHECK(!expect_wc(p.cq[0], 1, IBV_WC_FETCH_ADD, NULL), "fetch_add completion");
	CHECK(*result == 5 && *remote == 15, "fetch_add: result %llu remote %llu",
	      (unsigned long long)*result, (unsigned long long)*remote);

	wr.wr_id = 2;
	wr.opcode = IBV_WR_ATOMIC_CMP_AND_SWP;
	wr.wr.atomic.compare_add = 15;
	wr.wr.atomic.swap = 99;
	CHECK(!post_wr(p.qp[0], &wr), "post cmp_swp");
	CHECK(!expect_wc(p.cq[0], 2, IBV_WC_COMP_SWAP, NULL), "cmp_swp completion");
	CHECK(*result == 15 && *remote == 99, "cmp_swp: result %llu remote %llu",
	      (unsigned long long)*result, (unsigned long long)*remote);
	free_pair(&p);
	return 0;
}

static int rc_inline(struct env *e)
{
	struct pair p;
	struct ibv_wc wc;
	uint8_t stackbuf[48];
	struct ibv_sge sg[2];
	struct ibv_send_wr wr = { 0 };

	CHECK(!make_pair(e, &p, IBV_QPT_RC, 16, 2, 64, 4096, MR_ALL, false),
	      "setup: %s", strerror(errno));
	pattern(stackbuf, sizeof(stackbuf), 5);
	CHECK(!post_recv1(p.qp[1], 1, p.buf[1], 4096, p.mr[1]->lkey), "post_recv");
	/* unregistered memory, lkey 0: only inline can carry it */
	sg[0] = (struct ibv_sge){ (uintptr_t)stackbuf, 20, 0 };
	sg[1] = (struct ibv_sge){ (uintptr_t)stackbuf + 20, 28, 0 };
	wr.wr_id = 2;
	wr.sg_list = sg;
	wr.num_sge = 2;
	wr.opcode = IBV_WR_SEND;
	wr.send_flags = IBV_SEND_SIGNALED | IBV_SEND_INLINE;
	CHECK(!post_wr(p.qp[0], &wr), "post inline send");
	memset(stackbuf, 0xee, sizeof(stackbuf));	/* copied at post time */
	CHECK(!expect_wc(p.cq[0], 2, IBV_WC_SEND, NULL), "send completion");
	CHECK(!expect_wc(p.cq[1], 1, IBV_WC_RECV, &wc), "recv completion");
	pattern(stackbuf, sizeof(stackbuf), 5);
	CHECK(wc.byte_len == 48 && !memcmp(p.buf[1], stackbuf, 48),
	      "inline payload (byte_len %u)", wc.byte_len);
	free_pair(&p);
	return 0;
}

/*
 * Bind a type 2 window, use it, invalidate it with SEND_WITH_INV: the
 * receive must report IBV_WC_WITH_INV and the rkey (the kernel's own flag
 * bit for "invalidate" is IBV_WC_IP_CSUM_OK's in libibverbs' numbering),
 * and the window must be dead afterwards.
 */
static int rc_send_with_inv(struct env *e)
{
	struct pair p;
	struct ibv_wc wc;
	struct ibv_mr *bmr;
	struct ibv_mw *mw;
	struct ibv_sge sg;
	struct ibv_send_wr wr = { 0 };
	uint32_t rkey;

	CHECK(!make_pair(e, &p, IBV_QPT_RC, 16, 1, 0, 8192, MR_ALL, false),
	      "setup: %s", strerror(errno));
	bmr = ibv_reg_mr(e->pd, p.buf[1] + 4096, 4096,
			 MR_ALL | IBV_ACCESS_MW_BIND);
	CHECK(bmr, "reg_mr MW_BIND: %s", strerror(errno));
	mw = ibv_alloc_mw(e->pd, IBV_MW_TYPE_2);
	CHECK(mw, "alloc_mw type 2: %s", strerror(errno));
	rkey = ibv_inc_rkey(mw->rkey);

	wr.wr_id = 1;
	wr.opcode = IBV_WR_BIND_MW;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.bind_mw.mw = mw;
	wr.bind_mw.rkey = rkey;
	wr.bind_mw.bind_info.mr = bmr;
	wr.bind_mw.bind_info.addr = (uintptr_t)bmr->addr;
	wr.bind_mw.bind_info.length = 4096;
	wr.bind_mw.bind_info.mw_access_flags = IBV_ACCESS_REMOTE_WRITE;
	CHECK(!post_wr(p.qp[1], &wr), "post bind");
	CHECK(!expect_wc(p.cq[1], 1, IBV_WC_BIND_MW, NULL), "bind completion");

	pattern(p.buf[0], 4096, 6);
	memset(&wr, 0, sizeof(wr));
	sg = (struct ibv_sge){ (uintptr_t)p.buf[0], 256, p.mr[0]->lkey };
	wr.wr_id = 2;
	wr.sg_list = &sg;
	wr.num_sge = 1;
	wr.opcode = IBV_WR_RDMA_WRITE;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.wr.rdma.remote_addr = (uintptr_t)bmr->addr + 16;
	wr.wr.rdma.rkey = rkey;
	CHECK(!post_wr(p.qp[0], &wr), "post write via MW");
	CHECK(!expect_wc(p.cq[0], 2, IBV_WC_RDMA_WRITE, NULL), "write via MW");
	CHECK(!memcmp(p.buf[1] + 4096 + 16, p.buf[0], 256), "MW write bytes differ");

	CHECK(!post_recv1(p.qp[1], 3, p.buf[1], 64, p.mr[1]->lkey), "post_recv");
	memset(&wr, 0, sizeof(wr));
	sg.length = 32;
	wr.wr_id = 4;
	wr.sg_list = &sg;
	wr.num_sge = 1;
	wr.opcode = IBV_WR_SEND_WITH_INV;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.invalidate_rkey = rkey;
	CHECK(!post_wr(p.qp[0], &wr), "post send_with_inv");
	CHECK(!expect_wc(p.cq[0], 4, IBV_WC_SEND, NULL), "send_with_inv completion");
	CHECK(!expect_wc(p.cq[1], 3, IBV_WC_RECV, &wc), "recv completion");
	CHECK(wc.wc_flags & IBV_WC_WITH_INV, "wc_flags 0x%x lacks IBV_WC_WITH_INV",
	      wc.wc_flags);
	CHECK(!(wc.wc_flags & IBV_WC_IP_CSUM_OK), "wc_flags 0x%x claims IP_CSUM_OK",
	      wc.wc_flags);
	CHECK(wc.invalidated_rkey == rkey, "invalidated rkey 0x%x, want 0x%x",
	      wc.invalidated_rkey, rkey);

	/* the window is gone: the same write now fails remotely */
	memset(&wr, 0, sizeof(wr));
	wr.wr_id = 5;
	wr.sg_list = &sg;
	wr.num_sge = 1;
	wr.opcode = IBV_WR_RDMA_WRITE;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.wr.rdma.remote_addr = (uintptr_t)bmr->addr + 16;
	wr.wr.rdma.rkey = rkey;
	CHECK(!post_wr(p.qp[0], &wr), "post write after inv");
	CHECK(poll_n(p.cq[0], &wc, 1) == 1, "no completion after inv");
	CHECK(wc.wr_id == 5 && wc.status == IBV_WC_REM_ACCESS_ERR,
	      "write after invalidate: wr_id %llu status %s",
	      (unsigned long long)wc.wr_id, ibv_wc_status_str(wc.status));
	free_pair(&p);
	ibv_dealloc_mw(mw);
	ibv_dereg_mr(bmr);
	return 0;
}

static int mw_type1_bind(struct env *e)
{
	struct pair p;
	struct ibv_mr *bmr;
	struct ibv_mw *mw;
	struct ibv_mw_bind bind = { 0 };
	struct ibv_sge sg;
	struct ibv_send_wr wr = { 0 };
	uint32_t old;

	CHECK(!make_pair(e, &p, IBV_QPT_RC, 16, 1, 0, 8192, MR_ALL, false),
	      "setup: %s", strerror(errno));
	bmr = ibv_reg_mr(e->pd, p.buf[1], 8192, MR_ALL | IBV_ACCESS_MW_BIND);
	CHECK(bmr, "reg_mr MW_BIND: %s", strerror(errno));
	mw = ibv_alloc_mw(e->pd, IBV_MW_TYPE_1);
	CHECK(mw, "alloc_mw type 1: %s", strerror(errno));
	old = mw->rkey;
	bind.wr_id = 1;
	bind.send_flags = IBV_SEND_SIGNALED;
	bind.bind_info.mr = bmr;
	bind.bind_info.addr = (uintptr_t)p.buf[1] + 1024;
	bind.bind_info.length = 2048;
	bind.bind_info.mw_access_flags = IBV_ACCESS_REMOTE_WRITE;
	CHECK(!ibv_bind_mw(p.qp[1], mw, &bind), "ibv_bind_mw: %s", strerror(errno));
	CHECK(mw->rkey != old && (mw->rkey >> 8) == (old >> 8),
	      "rkey 0x%x after bind (was 0x%x)", mw->rkey, old);
	CHECK(!expect_wc(p.cq[1], 1, IBV_WC_BIND_MW, NULL), "bind completion");

	pattern(p.buf[0], 2048, 7);
	sg = (struct ibv_sge){ (uintptr_t)p.buf[0], 2048, p.mr[0]->lkey };
	wr.wr_id = 2;
	wr.sg_list = &sg;
	wr.num_sge = 1;
	wr.opcode = IBV_WR_RDMA_WRITE;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.wr.rdma.remote_addr = (uintptr_t)p.buf[1] + 1024;
	wr.wr.rdma.rkey = mw->rkey;
	CHECK(!post_wr(p.qp[0], &wr), "post write via MW");
	CHECK(!expect_wc(p.cq[0], 2, IBV_WC_RDMA_WRITE, NULL), "write via MW");
	CHECK(!memcmp(p.buf[1] + 1024, p.buf[0], 2048), "bytes differ");
	free_pair(&p);
	ibv_dealloc_mw(mw);
	ibv_dereg_mr(bmr);
	return 0;
}

/* ibv_qp_ex: inline data from a list, and a scatter list, each summed. */
static int qpx_inline_list_sge_list(struct env *e)
{
	static const char a[] = "hello ", b[] = "world, again";
	struct ibv_data_buf bufs[2] = {
		{ (void *)a, sizeof(a) - 1 }, { (void *)b, sizeof(b) - 1 },
	};
	struct ibv_sge sg[2];
	struct ibv_qp_ex *qx;
	struct pair p;
	struct ibv_wc wc;
	size_t n = sizeof(a) - 1 + sizeof(b) - 1;

	CHECK(!make_pair(e, &p, IBV_QPT_RC, 16, 2, 64, 8192, MR_ALL, true),
	      "setup: %s", strerror(errno));
	qx = ibv_qp_to_qp_ex(p.qp[0]);
	CHECK(qx, "no qp_ex");
	CHECK(!post_recv1(p.qp[1], 1, p.buf[1], 1024, p.mr[1]->lkey), "post_recv");
	CHECK(!post_recv1(p.qp[1], 2, p.buf[1] + 1024, 1024, p.mr[1]->lkey), "post_recv");
	pattern(p.buf[0], 4096, 8);
	sg[0] = (struct ibv_sge){ (uintptr_t)p.buf[0], 100, p.mr[0]->lkey };
	sg[1] = (struct ibv_sge){ (uintptr_t)p.buf[0] + 2000, 300, p.mr[0]->lkey };

	ibv_wr_start(qx);
	qx->wr_id = 11;
	qx->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_send(qx);
	ibv_wr_set_inline_data_list(qx, 2, bufs);
	qx->wr_id = 12;
	ibv_wr_send(qx);
	ibv_wr_set_sge_list(qx, 2, sg);
	CHECK(ibv_wr_complete(qx) == 0, "wr_complete");

	CHECK(!expect_wc(p.cq[0], 11, IBV_WC_SEND, NULL), "send 1");
	CHECK(!expect_wc(p.cq[0], 12, IBV_WC_SEND, NULL), "send 2");
	CHECK(!expect_wc(p.cq[1], 1, IBV_WC_RECV, &wc), "recv 1");
	CHECK(wc.byte_len == n, "inline list: byte_len %u, want %zu", wc.byte_len, n);
	CHECK(!memcmp(p.buf[1], "hello world, again", n), "inline list payload");
	CHECK(!expect_wc(p.cq[1], 2, IBV_WC_RECV, &wc), "recv 2");
	CHECK(wc.byte_len == 400, "sge list: byte_len %u, want 400", wc.byte_len);
	CHECK(!memcmp(p.buf[1] + 1024, p.buf[0], 100) &&
	      !memcmp(p.buf[1] + 1124, p.buf[0] + 2000, 300), "sge list payload");
	free_pair(&p);
	return 0;
}

static int qpx_write_read_atomics(struct env *e)
{
	struct ibv_qp_ex *qx;
	struct pair p;
	uint64_t aw = 0x0123456789abcdefULL;
	uint64_t *remote;

	CHECK(!make_pair(e, &p, IBV_QPT_RC, 16, 2, 64, 16384, MR_ALL, true),
	      "setup: %s", strerror(errno));
	qx = ibv_qp_to_qp_ex(p.qp[0]);
	pattern(p.buf[0], p.len, 9);
	pattern(p.buf[1], p.len, 10);
	remote = (uint64_t *)(p.buf[1] + 8192);
	*remote = 40;

	ibv_wr_start(qx);
	qx->wr_flags = IBV_SEND_SIGNALED;
	qx->wr_id = 1;
	ibv_wr_rdma_write(qx, p.mr[1]->rkey, (uintptr_t)p.buf[1]);
	ibv_wr_set_sge(qx, p.mr[0]->lkey, (uintptr_t)p.buf[0], 3000);
	qx->wr_id = 2;
	ibv_wr_rdma_read(qx, p.mr[1]->rkey, (uintptr_t)p.buf[1] + 4096);
	ibv_wr_set_sge(qx, p.mr[0]->lkey, (uintptr_t)p.buf[0] + 4096, 2000);
	qx->wr_id = 3;
	ibv_wr_atomic_fetch_add(qx, p.mr[1]->rkey, (uintptr_t)remote, 2);
	ibv_wr_set_sge(qx, p.mr[0]->lkey, (uintptr_t)p.buf[0] + 8192, 8);
	CHECK(ibv_wr_complete(qx) == 0, "wr_complete");
	CHECK(!expect_wc(p.cq[0], 1, IBV_WC_RDMA_WRITE, NULL), "write");
	CHECK(!expect_wc(p.cq[0], 2, IBV_WC_RDMA_READ, NULL), "read");
	CHECK(!expect_wc(p.cq[0], 3, IBV_WC_FETCH_ADD, NULL), "fetch_add");
	CHECK(!memcmp(p.buf[1], p.buf[0], 3000), "write bytes differ");
	CHECK(!memcmp(p.buf[0] + 4096, p.buf[1] + 4096, 2000), "read bytes differ");
	CHECK(*(uint64_t *)(p.buf[0] + 8192) == 40 && *remote == 42,
	      "fetch_add: got %llu, remote %llu",
	      (unsigned long long)*(uint64_t *)(p.buf[0] + 8192),
	      (unsigned long long)*remote);

	ibv_wr_start(qx);
	qx->wr_id = 4;
	ibv_wr_atomic_write(qx, p.mr[1]->rkey, (uintptr_t)remote, &aw);
	CHECK(ibv_wr_complete(qx) == 0, "wr_complete atomic_write");
	CHECK(!expect_wc(p.cq[0], 4, IBV_WC_ATOMIC_WRITE, NULL), "atomic_write");
	CHECK(*remote == aw, "atomic_write: remote 0x%llx",
	      (unsigned long long)*remote);
	free_pair(&p);
	return 0;
}

/* A broken batch publishes nothing; the next good WR is the next CQE. */
static int qpx_batch_errors(struct env *e)
{
	struct ibv_sge sg[8];
	struct ibv_qp_ex *qx;
	struct pair p;
	int i, ret;

	CHECK(!make_pair(e, &p, IBV_QPT_RC, 16, 2, 64, 4096, MR_ALL, true),
	      "setup: %s", strerror(errno));
	qx = ibv_qp_to_qp_ex(p.qp[0]);
	for (i = 0; i < 8; i++)
		sg[i] = (struct ibv_sge){ (uintptr_t)p.buf[0], 8, p.mr[0]->lkey };

	ibv_wr_start(qx);	/* setter without a builder */
	ibv_wr_set_sge(qx, p.mr[0]->lkey, (uintptr_t)p.buf[0], 8);
	ret = ibv_wr_complete(qx);
	CHECK(ret == EINVAL, "setter first: wr_complete %d, want EINVAL", ret);

	ibv_wr_start(qx);	/* more SGEs than the QP takes */
	qx->wr_id = 100;
	qx->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_rdma_write(qx, p.mr[1]->rkey, (uintptr_t)p.buf[1]);
	ibv_wr_set_sge_list(qx, 8, sg);
	ret = ibv_wr_complete(qx);
	CHECK(ret == EINVAL, "8 SGEs: wr_complete %d, want EINVAL", ret);

	ibv_wr_start(qx);	/* no XRC on rxe */
	qx->wr_id = 101;
	ibv_wr_send(qx);
	ibv_wr_set_xrc_srqn(qx, 1);
	ret = ibv_wr_complete(qx);
	CHECK(ret == EOPNOTSUPP, "xrc srqn: wr_complete %d, want EOPNOTSUPP", ret);

	ibv_wr_start(qx);	/* aborted: dropped */
	qx->wr_id = 102;
	ibv_wr_rdma_write(qx, p.mr[1]->rkey, (uintptr_t)p.buf[1]);
	ibv_wr_set_sge(qx, p.mr[0]->lkey, (uintptr_t)p.buf[0], 8);
	ibv_wr_abort(qx);

	ibv_wr_start(qx);
	qx->wr_id = 103;
	qx->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_rdma_write(qx, p.mr[1]->rkey, (uintptr_t)p.buf[1]);
	ibv_wr_set_sge(qx, p.mr[0]->lkey, (uintptr_t)p.buf[0], 8);
	CHECK(ibv_wr_complete(qx) == 0, "good batch");
	CHECK(!expect_wc(p.cq[0], 103, IBV_WC_RDMA_WRITE, NULL),
	      "the good WR is not the next completion");
	free_pair(&p);
	return 0;
}

/*
 * ibv_cq_ex polling: next_poll() reporting ENOENT is followed by
 * end_poll(); afterwards exactly the polled entries are consumed, no more.
 */
static int cqx_poll_semantics(struct env *e)
{
	struct ibv_cq_init_attr_ex ca = { 0 };
	struct ibv_poll_cq_attr pa = { 0 };
	struct ibv_cq_ex *cqx;
	struct ibv_cq *rcq;
	struct ibv_qp *qp[2];
	struct ibv_mr *mr;
	struct ibv_wc wc;
	uint8_t *buf;
	double end;
	int i, ret;

	ca.cqe = 16;
	ca.wc_flags = IBV_WC_EX_WITH_BYTE_LEN | IBV_WC_EX_WITH_QP_NUM;
	cqx = ibv_create_cq_ex(e->ctx, &ca);
	CHECK(cqx, "create_cq_ex: %s", strerror(errno));
	rcq = ibv_create_cq(e->ctx, 16, NULL, NULL, 0);
	buf = aligned_alloc(4096, 4096);
	mr = ibv_reg_mr(e->pd, buf, 4096, MR_ALL);
	qp[0] = make_qp(e, IBV_QPT_RC, ibv_cq_ex_to_cq(cqx), rcq, NULL, 8, 1, 0, false);
	qp[1] = make_qp(e, IBV_QPT_RC, rcq, rcq, NULL, 8, 1, 0, false);
	CHECK(rcq && mr && qp[0] && qp[1], "setup: %s", strerror(errno));
	CHECK(!connect_qp(e, qp[0], qp[1]->qp_num) &&
	      !connect_qp(e, qp[1], qp[0]->qp_num), "connect");
	for (i = 0; i < 4; i++)
		CHECK(!post_recv1(qp[1], 50 + i, buf + 2048, 64, mr->lkey), "post_recv");
	for (i = 1; i <= 3; i++)
		CHECK(!send1(qp[0], i, buf, 16 * i, mr->lkey), "post_send %d", i);

	end = now_ms() + POLL_TIMEOUT_MS;
	while ((ret = ibv_start_poll(cqx, &pa)) == ENOENT && now_ms() < end)
		;
	CHECK(ret == 0, "start_poll %d", ret);
	for (i = 1; i <= 3; i++) {
		if (i > 1) {
			while ((ret = ibv_next_poll(cqx)) == ENOENT && now_ms() < end)
				;
			if (ret) {
				ibv_end_poll(cqx);
				CHECK(0, "next_poll %d for entry %d", ret, i);
			}
		}
		if (cqx->wr_id != (uint64_t)i || cqx->status != IBV_WC_SUCCESS ||
		    ibv_wc_read_opcode(cqx) != IBV_WC_SEND ||
		    ibv_wc_read_qp_num(cqx) != qp[0]->qp_num) {
			ibv_end_poll(cqx);
			CHECK(0, "entry %d: wr_id %llu status %d", i,
			      (unsigned long long)cqx->wr_id, cqx->status);
		}
	}
	ret = ibv_next_poll(cqx);	/* nothing more was posted */
	ibv_end_poll(cqx);
	CHECK(ret == ENOENT, "4th next_poll %d, want ENOENT", ret);
	ret = ibv_poll_cq(ibv_cq_ex_to_cq(cqx), 1, &wc);
	CHECK(ret == 0, "after end_poll, poll_cq found %d phantom entr%s (wr_id %llu)",
	      ret, ret == 1 ? "y" : "ies", (unsigned long long)wc.wr_id);

	CHECK(!send1(qp[0], 4, buf, 8, mr->lkey), "post_send 4");
	while ((ret = ibv_start_poll(cqx, &pa)) == ENOENT && now_ms() < end)
		;
	CHECK(ret == 0, "start_poll again %d", ret);
	i = (int)cqx->wr_id;
	ret = ibv_next_poll(cqx);
	ibv_end_poll(cqx);
	CHECK(i == 4 && ret == ENOENT, "second round: wr_id %d, next_poll %d", i, ret);
	CHECK(ibv_poll_cq(ibv_cq_ex_to_cq(cqx), 1, &wc) == 0, "phantom entry after round 2");

	for (i = 0; i < 2; i++)
		ibv_destroy_qp(qp[i]);
	ibv_destroy_cq(ibv_cq_ex_to_cq(cqx));
	ibv_destroy_cq(rcq);
	ibv_dereg_mr(mr);
	free(buf);
	return 0;
}

/* Many more messages than ring slots: indices wrap several times. */
static int rc_ring_wraparound(struct env *e)
{
	struct ibv_qp_attr qa;
	struct ibv_qp_init_attr qi;
	struct pair p;
	int i;

	CHECK(!make_pair(e, &p, IBV_QPT_RC, 4, 1, 0, 8192, MR_ALL, false),
	      "setup: %s", strerror(errno));
	CHECK(!ibv_query_qp(p.qp[0], &qa, IBV_QP_CAP, &qi), "query_qp");
	for (i = 0; i < 10 * (int)(qa.cap.max_send_wr + 1); i++) {
		pattern(p.buf[0], 1500, (unsigned int)i);
		CHECK(!post_recv1(p.qp[1], 1000 + i, p.buf[1], 4096, p.mr[1]->lkey),
		      "post_recv %d", i);
		CHECK(!send1(p.qp[0], i, p.buf[0], 1500, p.mr[0]->lkey), "send %d", i);
		CHECK(!expect_wc(p.cq[0], i, IBV_WC_SEND, NULL), "send wc %d", i);
		CHECK(!expect_wc(p.cq[1], 1000 + i, IBV_WC_RECV, NULL), "recv wc %d", i);
		CHECK(!memcmp(p.buf[0], p.buf[1], 1500), "payload %d", i);
	}
	free_pair(&p);
	return 0;
}

/*
 * A full send queue says ENOMEM: the responder has no receive posted, so
 * the first send waits on RNR NAKs (rnr_retry 7 = forever) and no slot is
 * freed. Posting the receives drains everything.
 */
static int rc_send_queue_full(struct env *e)
{
	struct ibv_qp_attr qa;
	struct ibv_qp_init_attr qi;
	struct ibv_send_wr wr = { 0 }, *bad = NULL;
	struct ibv_sge sg;
	struct ibv_wc wc;
	struct pair p;
	uint32_t i, n;
	int ret;

	CHECK(!make_pair(e, &p, IBV_QPT_RC, 8, 1, 0, 4096, MR_ALL, false),
	      "setup: %s", strerror(errno));
	CHECK(!ibv_query_qp(p.qp[0], &qa, IBV_QP_CAP, &qi), "query_qp");
	n = qa.cap.max_send_wr;
	sg = (struct ibv_sge){ (uintptr_t)p.buf[0], 8, p.mr[0]->lkey };
	wr.sg_list = &sg;
	wr.num_sge = 1;
	wr.opcode = IBV_WR_SEND;
	wr.send_flags = IBV_SEND_SIGNALED;
	for (i = 0; i < n; i++) {
		wr.wr_id = i;
		CHECK(!ibv_post_send(p.qp[0], &wr, &bad), "send %u of %u", i, n);
	}
	wr.wr_id = n;
	ret = ibv_post_send(p.qp[0], &wr, &bad);
	CHECK(ret == ENOMEM && bad == &wr, "send %u into a full queue: %d, want ENOMEM",
	      n, ret);
	for (i = 0; i < n; i++)
		CHECK(!post_recv1(p.qp[1], i, p.buf[1], 64, p.mr[1]->lkey), "post_recv");
	for (i = 0; i < n; i++) {
		CHECK(poll_n(p.cq[0], &wc, 1) == 1, "drain %u", i);
		CHECK(wc.status == IBV_WC_SUCCESS && wc.wr_id == i,
		      "drain %u: wr_id %llu %s", i, (unsigned long long)wc.wr_id,
		      ibv_wc_status_str(wc.status));
	}
	free_pair(&p);
	return 0;
}

/* Resize a CQ that holds unpolled entries, then overflow the old size. */
static int cq_resize(struct env *e)
{
	struct ibv_wc wc[32];
	struct ibv_cq *scq, *rcq;
	struct ibv_qp *qp[2];
	struct ibv_mr *mr;
	uint8_t *buf;
	int i, n;

	scq = ibv_create_cq(e->ctx, 4, NULL, NULL, 0);
	rcq = ibv_create_cq(e->ctx, 64, NULL, NULL, 0);
	buf = aligned_alloc(4096, 4096);
	mr = ibv_reg_mr(e->pd, buf, 4096, MR_ALL);
	CHECK(scq && rcq && mr, "setup");
	qp[0] = make_qp(e, IBV_QPT_RC, scq, rcq, NULL, 32, 1, 0, false);
	qp[1] = make_qp(e, IBV_QPT_RC, rcq, rcq, NULL, 32, 1, 0, false);
	CHECK(qp[0] && qp[1], "qp: %s", strerror(errno));
	CHECK(!connect_qp(e, qp[0], qp[1]->qp_num) &&
	      !connect_qp(e, qp[1], qp[0]->qp_num), "connect");
	for (i = 0; i < 24; i++)
		CHECK(!post_recv1(qp[1], 500 + i, buf + 2048, 64, mr->lkey), "post_recv");
	for (i = 0; i < 3; i++)
		CHECK(!send1(qp[0], i, buf, 8, mr->lkey), "send %d", i);
	/* all three delivered; their send completions are in or on the way */
	CHECK(poll_n(rcq, wc, 3) == 3, "receives");
	CHECK(!ibv_resize_cq(scq, 64), "resize_cq: %s", strerror(errno));
	CHECK(scq->cqe >= 64, "cqe %d after resize", scq->cqe);
	for (i = 3; i < 24; i++)
		CHECK(!send1(qp[0], i, buf, 8, mr->lkey), "send %d", i);
	n = poll_n(scq, wc, 24);
	CHECK(n == 24, "%d send completions, want 24", n);
	for (i = 0; i < 24; i++)
		CHECK(wc[i].wr_id == (uint64_t)i && wc[i].status == IBV_WC_SUCCESS,
		      "entry %d: wr_id %llu", i, (unsigned long long)wc[i].wr_id);
	CHECK(ibv_poll_cq(scq, 1, wc) == 0, "extra entry after resize");
	ibv_destroy_qp(qp[0]);
	ibv_destroy_qp(qp[1]);
	ibv_destroy_cq(scq);
	ibv_destroy_cq(rcq);
	ibv_dereg_mr(mr);
	free(buf);
	return 0;
}

/* SRQ receives, and growing the SRQ with one receive still queued. */
static int post_srq1(struct ibv_srq *srq, uint64_t id, void *addr, uint32_t len,
		     uint32_t lkey)
{
	struct ibv_sge sg = { (uintptr_t)addr, len, lkey };
	struct ibv_recv_wr wr = { .wr_id = id, .sg_list = &sg, .num_sge = 1 };
	struct ibv_recv_wr *bad;

	return ibv_post_srq_recv(srq, &wr, &bad);
}

static int srq_resize(struct env *e)
{
	struct ibv_srq_init_attr sa = { 0 };
	struct ibv_srq_attr attr = { 0 };
	struct ibv_cq *scq, *rcq;
	struct ibv_srq *srq;
	struct ibv_qp *qp[2];
	struct ibv_mr *mr;
	uint8_t *buf;
	int i;

	sa.attr.max_wr = 4;
	sa.attr.max_sge = 2;
	scq = ibv_create_cq(e->ctx, 128, NULL, NULL, 0);
	rcq = ibv_create_cq(e->ctx, 128, NULL, NULL, 0);
	srq = ibv_create_srq(e->pd, &sa);
	buf = aligned_alloc(4096, 65536);
	mr = ibv_reg_mr(e->pd, buf, 65536, MR_ALL);
	CHECK(scq && rcq && srq && mr, "setup: %s", strerror(errno));
	qp[0] = make_qp(e, IBV_QPT_RC, scq, rcq, NULL, 32, 1, 0, false);
	qp[1] = make_qp(e, IBV_QPT_RC, scq, rcq, srq, 32, 1, 0, false);
	CHECK(qp[0] && qp[1], "qp: %s", strerror(errno));
	CHECK(!connect_qp(e, qp[0], qp[1]->qp_num) &&
	      !connect_qp(e, qp[1], qp[0]->qp_num), "connect");

	/* receive i lands in buf + 32768 + i * 256 */
	for (i = 0; i < 3; i++)
		CHECK(!post_srq1(srq, 1000 + i, buf + 32768 + i * 256, 256, mr->lkey),
		      "post_srq_recv %d", i);
	for (i = 0; i < 2; i++) {
		pattern(buf + i * 256, 200, (unsigned int)i);
		CHECK(!send1(qp[0], i, buf + i * 256, 200, mr->lkey), "send %d", i);
		CHECK(!expect_wc(scq, i, IBV_WC_SEND, NULL), "send wc %d", i);
		CHECK(!expect_wc(rcq, 1000 + i, IBV_WC_RECV, NULL), "recv wc %d", i);
		CHECK(!memcmp(buf + 32768 + i * 256, buf + i * 256, 200), "payload %d", i);
	}

	attr.max_wr = 64;
	CHECK(!ibv_modify_srq(srq, &attr, IBV_SRQ_MAX_WR), "modify_srq max_wr: %s",
	      strerror(errno));
	memset(&attr, 0, sizeof(attr));
	CHECK(!ibv_query_srq(srq, &attr) && attr.max_wr >= 64, "query_srq max_wr %u",
	      attr.max_wr);
	for (i = 3; i < 40; i++)
		CHECK(!post_srq1(srq, 1000 + i, buf + 32768 + i * 256, 256, mr->lkey),
		      "post_srq_recv %d", i);
	/* receive 2, queued before the resize, is consumed first */
	for (i = 2; i < 40; i++) {
		pattern(buf + i * 256, 200, (unsigned int)i);
		CHECK(!send1(qp[0], i, buf + i * 256, 200, mr->lkey), "send %d", i);
		CHECK(!expect_wc(scq, i, IBV_WC_SEND, NULL), "send wc %d", i);
		CHECK(!expect_wc(rcq, 1000 + i, IBV_WC_RECV, NULL), "recv wc %d", i);
		CHECK(!memcmp(buf + 32768 + i * 256, buf + i * 256, 200), "payload %d", i);
	}
	ibv_destroy_qp(qp[0]);
	ibv_destroy_qp(qp[1]);
	ibv_destroy_srq(srq);
	ibv_destroy_cq(scq);
	ibv_destroy_cq(rcq);
	ibv_dereg_mr(mr);
	free(buf);
	return 0;
}

static int ud_send(struct env *e)
{
	struct ibv_ah_attr aa;
	struct ibv_qp_ex *qx;
	struct ibv_ah *ah;
	struct ibv_sge sg;
	struct ibv_send_wr wr = { 0 };
	struct ibv_wc wc;
	struct pair p;
	const uint32_t grh = 40;

	CHECK(!make_pair(e, &p, IBV_QPT_UD, 16, 1, 0, 8192, MR_ALL, true),
	      "setup: %s", strerror(errno));
	fill_ah(e, &aa);
	ah = ibv_create_ah(e->pd, &aa);
	CHECK(ah, "create_ah: %s", strerror(errno));
	pattern(p.buf[0], 1024, 11);
	CHECK(!post_recv1(p.qp[1], 1, p.buf[1], grh + 1024, p.mr[1]->lkey), "post_recv");
	CHECK(!post_recv1(p.qp[1], 2, p.buf[1] + 4096, grh + 1024, p.mr[1]->lkey),
	      "post_recv");

	sg = (struct ibv_sge){ (uintptr_t)p.buf[0], 512, p.mr[0]->lkey };
	wr.wr_id = 3;
	wr.sg_list = &sg;
	wr.num_sge = 1;
	wr.opcode = IBV_WR_SEND;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.wr.ud.ah = ah;
	wr.wr.ud.remote_qpn = p.qp[1]->qp_num;
	wr.wr.ud.remote_qkey = 0x11111111;
	CHECK(!post_wr(p.qp[0], &wr), "post_send");
	CHECK(!expect_wc(p.cq[0], 3, IBV_WC_SEND, NULL), "send completion");
	CHECK(!expect_wc(p.cq[1], 1, IBV_WC_RECV, &wc), "recv completion");
	CHECK(wc.byte_len == grh + 512, "byte_len %u", wc.byte_len);
	CHECK(wc.src_qp == p.qp[0]->qp_num, "src_qp %u, want %u", wc.src_qp,
	      p.qp[0]->qp_num);
	CHECK(wc.wc_flags & IBV_WC_GRH, "no GRH flag (0x%x)", wc.wc_flags);
	CHECK(!memcmp(p.buf[1] + grh, p.buf[0], 512), "payload");

	qx = ibv_qp_to_qp_ex(p.qp[0]);
	CHECK(qx, "no qp_ex");
	ibv_wr_start(qx);
	qx->wr_id = 4;
	qx->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_send_imm(qx, htobe32(77));
	ibv_wr_set_ud_addr(qx, ah, p.qp[1]->qp_num, 0x11111111);
	ibv_wr_set_sge(qx, p.mr[0]->lkey, (uintptr_t)p.buf[0] + 512, 300);
	CHECK(!ibv_wr_complete(qx), "wr_complete");
	CHECK(!expect_wc(p.cq[0], 4, IBV_WC_SEND, NULL), "qpx send completion");
	CHECK(!expect_wc(p.cq[1], 2, IBV_WC_RECV, &wc), "qpx recv completion");
	CHECK(wc.byte_len == grh + 300 && (wc.wc_flags & IBV_WC_WITH_IMM) &&
	      be32toh(wc.imm_data) == 77, "qpx: byte_len %u flags 0x%x", wc.byte_len,
	      wc.wc_flags);
	CHECK(!memcmp(p.buf[1] + 4096 + grh, p.buf[0] + 512, 300), "qpx payload");
	ibv_destroy_ah(ah);
	free_pair(&p);
	return 0;
}

static int uc_write_imm(struct env *e)
{
	struct ibv_send_wr wr = { 0 };
	struct ibv_sge sg;
	struct ibv_wc wc;
	struct pair p;

	CHECK(!make_pair(e, &p, IBV_QPT_UC, 16, 1, 0, 8192, MR_ALL, false),
	      "setup: %s", strerror(errno));
	pattern(p.buf[0], 4000, 12);
	CHECK(!post_recv1(p.qp[1], 1, p.buf[1], 16, p.mr[1]->lkey), "post_recv");
	sg = (struct ibv_sge){ (uintptr_t)p.buf[0], 4000, p.mr[0]->lkey };
	wr.wr_id = 2;
	wr.sg_list = &sg;
	wr.num_sge = 1;
	wr.opcode = IBV_WR_RDMA_WRITE_WITH_IMM;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.imm_data = htobe32(5);
	wr.wr.rdma.remote_addr = (uintptr_t)p.buf[1] + 4096;
	wr.wr.rdma.rkey = p.mr[1]->rkey;
	CHECK(!post_wr(p.qp[0], &wr), "post_send");
	CHECK(!expect_wc(p.cq[0], 2, IBV_WC_RDMA_WRITE, NULL), "send completion");
	CHECK(!expect_wc(p.cq[1], 1, IBV_WC_RECV_RDMA_WITH_IMM, &wc), "recv completion");
	CHECK(be32toh(wc.imm_data) == 5, "imm");
	CHECK(!memcmp(p.buf[1] + 4096, p.buf[0], 4000), "payload");
	free_pair(&p);
	return 0;
}

/*
 * Moving a QP to RESET drops its completions still in the CQs (here the
 * flushes of its receives after ERR): the reconnected QP's first
 * completion is new traffic, not a stale flush.
 */
static int qp_reset_cleans_cq(struct env *e)
{
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_ERR };
	struct ibv_wc wc;
	struct pair p;
	int n;

	CHECK(!make_pair(e, &p, IBV_QPT_RC, 16, 1, 0, 4096, MR_ALL, false),
	      "setup: %s", strerror(errno));
	CHECK(!post_recv1(p.qp[1], 1, p.buf[1], 64, p.mr[1]->lkey), "post_recv");
	CHECK(!post_recv1(p.qp[1], 2, p.buf[1], 64, p.mr[1]->lkey), "post_recv");
	CHECK(!ibv_modify_qp(p.qp[1], &a, IBV_QP_STATE), "to ERR");
	/* the first flush proves flushing happened; the second may lag */
	CHECK(poll_n(p.cq[1], &wc, 1) == 1 && wc.status == IBV_WC_WR_FLUSH_ERR &&
	      wc.wr_id == 1, "first flush: wr_id %llu status %s",
	      (unsigned long long)wc.wr_id, ibv_wc_status_str(wc.status));
	a.qp_state = IBV_QPS_RESET;
	/* rdma_rxe drains the QP (flushing receive 2) before RESET completes */
	CHECK(!ibv_modify_qp(p.qp[1], &a, IBV_QP_STATE), "to RESET");
	n = ibv_poll_cq(p.cq[1], 1, &wc);
	CHECK(n == 0, "stale completion after RESET: wr_id %llu status %s",
	      (unsigned long long)wc.wr_id, ibv_wc_status_str(wc.status));
	CHECK(!connect_qp(e, p.qp[1], p.qp[0]->qp_num), "reconnect");
	CHECK(!post_recv1(p.qp[1], 3, p.buf[1], 64, p.mr[1]->lkey), "post_recv");
	CHECK(!send1(p.qp[0], 4, p.buf[0], 16, p.mr[0]->lkey), "send");
	CHECK(!expect_wc(p.cq[0], 4, IBV_WC_SEND, NULL), "send completion");
	CHECK(!expect_wc(p.cq[1], 3, IBV_WC_RECV, NULL), "recv completion");
	free_pair(&p);
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(struct env *);
} cases[] = {
	{ "rc_send_multi_sge", rc_send_multi_sge },
	{ "rc_send_imm", rc_send_imm },
	{ "rc_write_read", rc_write_read },
	{ "rc_atomics", rc_atomics },
	{ "rc_inline", rc_inline },
	{ "rc_send_with_inv", rc_send_with_inv },
	{ "mw_type1_bind", mw_type1_bind },
	{ "qpx_inline_list_sge_list", qpx_inline_list_sge_list },
	{ "qpx_write_read_atomics", qpx_write_read_atomics },
	{ "qpx_batch_errors", qpx_batch_errors },
	{ "cqx_poll_semantics", cqx_poll_semantics },
	{ "rc_ring_wraparound", rc_ring_wraparound },
	{ "rc_send_queue_full", rc_send_queue_full },
	{ "cq_resize", cq_resize },
	{ "srq_resize", srq_resize },
	{ "ud_send", ud_send },
	{ "uc_write_imm", uc_write_imm },
	{ "qp_reset_cleans_cq", qp_reset_cleans_cq },
};

int main(int argc, char **argv)
{
	struct env e;
	size_t i;

	if (argc < 3) {
		fprintf(stderr, "usage: %s DEV GID_INDEX [CASE...]\n", argv[0]);
		return 2;
	}
	open_env(&e, argv[1], atoi(argv[2]));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int j, want = argc == 3;

		for (j = 3; j < argc; j++)
			want |= !strcmp(argv[j], cases[i].name);
		if (want)
			run_case(cases[i].name, cases[i].fn, &e);
	}
	return failures ? 1 : 0;
}
