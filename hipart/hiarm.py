"""Stage 2 of HiPART: Hierarchical AutoRegressive Modeling (HiARM), docs/design.md section 5.

Given the sparse 17-joint 2D pose in the pose frame, HiARM generates the 16 sparse + 48 dense tokens
of the frozen MSST tokenizer. Every token has a *flat id*: ``0..15`` the sparse token of bone k,
``16 + d`` the dense token of dense joint d (bone ``bone_of_dense[d]``).

A *schedule* (:func:`build_schedule`) splits the 64 flat ids into S autoregressive steps; step k has
``first`` ids (predicted from the step's hidden state alone) and ``second`` ids (predicted in
parallel, conditioned on the first ones). The paper's order ``both`` is 16 steps in ``bone_order``
(center to periphery), each step = (sparse token of the bone | its 3 dense tokens).

Pieces (paper names):
* SOS: linear projection of the flattened sparse pose (with ``score_input``, beyond the paper, also of
  the 17 detector scores, so the model learns where to trust its input); the first GCSAB position.
* LSAB: a bidirectional block over a step's tokens, averaged into one step embedding.
* GCSAB: causal blocks over [SOS, step_0, ..., step_{S-2}]; position k predicts step k. Generation
  runs one position per step with a pre-allocated KV cache (:class:`hipart.layers.KVCache`).
* PH: blocks over a step's query tokens (hidden state + learned token-identity embedding; the second
  ids also get the embedding of the first tokens) and a linear head per vocabulary.
* Loss: CE(sparse) + ``dense_weight`` x CE(dense), teacher forcing.

Framework ``classification`` (PCT-style ablation): the same trunk without autoregression, every
position sees the SOS and a learned step query, all 64 tokens are predicted at once.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hipart.config import HiARMConfig, MSSTConfig
from hipart.layers import KVCache, TransformerBlock, step_blocks

ORDERS = ("next-token", "center-to-periphery", "sparse-to-dense", "both")
FRAMEWORKS = ("arm", "classification")


def build_schedule(order: str, bone_of_dense, bone_order, n_bones: int = 16) -> tuple[list[list[int]], list[list[int]]]:
    """(first, second): per step, the flat token ids predicted first and then in parallel.

    * ``both``: 16 steps, bones in ``bone_order``: [sparse b] then its 3 dense tokens.
    * ``sparse-to-dense``: the same grouping, bones in index order 0..15.
    * ``center-to-periphery``: 64 steps of one token: per bone in ``bone_order`` its sparse token,
      then its dense tokens in index order.
    * ``next-token``: 64 steps of one token, raster order = flat id order (16 sparse, 48 dense).
    """
    bone_of_dense = [int(b) for b in bone_of_dense]
    dense_of_bone = [[n_bones + d for d, b in enumerate(bone_of_dense) if b == bone] for bone in range(n_bones)]
    if order in ("both", "sparse-to-dense"):
        bones = [int(b) for b in bone_order] if order == "both" else list(range(n_bones))
        return [[b] for b in bones], [dense_of_bone[b] for b in bones]
    if order == "center-to-periphery":
        flat = [t for b in bone_order for t in [int(b)] + dense_of_bone[int(b)]]
    elif order == "next-token":
        flat = list(range(n_bones + len(bone_of_dense)))
    else:
        raise ValueError(f"hiarm.order must be one of {ORDERS}, got {order!r}")
    return [[t] for t in flat], [[] for _ in flat]


def choose(logits: torch.Tensor, temperature: float = 0.0, top_k: int = 0) -> torch.Tensor:
    """Token choice: greedy argmax, or sampling at ``temperature`` among the ``top_k`` best. (..., K) -> (...)"""
    if temperature <= 0:
        return logits.argmax(-1)
    logits = logits.float() / temperature
    if top_k > 0:
        kth = logits.topk(min(top_k, logits.shape[-1]), dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = logits.softmax(-1)
    return torch.multinomial(probs.reshape(-1, probs.shape[-1]), 1).view(probs.shape[:-1])


class HiARM(nn.Module):
    """``forward(sparse_pf (B,17,2), sparse_idx (B,16), dense_idx (B,48)) -> (B,16,K), (B,48,K)`` logits."""

    def __init__(self, cfg: HiARMConfig, msst_cfg: MSSTConfig, bone_of_dense, bone_order):
        super().__init__()
        if cfg.framework not in FRAMEWORKS:
            raise ValueError(f"hiarm.framework must be one of {FRAMEWORKS}, got {cfg.framework!r}")
        self.cfg, self.arm = cfg, cfg.framework == "arm"
        self.n_sparse, self.n_dense = msst_cfg.n_bones, msst_cfg.n_dense
        self.vocab = msst_cfg.codebook_size
        order = cfg.order if self.arm else "both"  # classification predicts the same 16 groups at once
        self.first, self.second = build_schedule(order, bone_of_dense, bone_order, self.n_sparse)
        n_tokens, S, D = self.n_sparse + self.n_dense, len(self.first), cfg.dim
        assert sorted(t for ids in self.first + self.second for t in ids) == list(range(n_tokens)), "bad schedule"
        self.register_buffer("first_ids", torch.tensor(self.first, dtype=torch.long).view(S, -1), persistent=False)
        self.register_buffer("second_ids", torch.tensor(self.second, dtype=torch.long).view(S, -1), persistent=False)
        sched = torch.cat([self.first_ids.flatten(), self.second_ids.flatten()])
        self.register_buffer("flat_from_sched", torch.argsort(sched), persistent=False)
        by_step = torch.tensor([t for f, g in zip(self.first, self.second) for t in f + g])  # generation order
        self.register_buffer("flat_from_steps", torch.argsort(by_step), persistent=False)
        # rows of the embedding table: sparse codes first, dense codes after (one table when shared)
        offset = torch.zeros(n_tokens, dtype=torch.long)
        offset[self.n_sparse :] = 0 if msst_cfg.shared_codebook else self.vocab
        self.register_buffer("code_offset", offset, persistent=False)

        self.sos = nn.Linear(17 * (3 if cfg.score_input else 2), D)
        self.code_emb = nn.Embedding(self.vocab * (1 if msst_cfg.shared_codebook else 2), D)
        self.token_id_emb = nn.Embedding(n_tokens, D)  # which bone / dense joint a token is
        self.step_pos = nn.Embedding(S, D)
        block = lambda: TransformerBlock(D, cfg.heads, cfg.mlp_ratio, cfg.dropout)
        self.lsab = nn.ModuleList(block() for _ in range(cfg.lsab_blocks if self.arm else 0))
        self.gcsab = nn.ModuleList(block() for _ in range(cfg.gcsab_blocks))
        self.gcsab_norm = nn.LayerNorm(D)
        self.ph = nn.ModuleList(block() for _ in range(cfg.ph_blocks))
        self.ph_norm = nn.LayerNorm(D)
        self.sparse_head = nn.Linear(D, self.vocab)
        self.dense_head = nn.Linear(D, self.vocab)
        self.drop = nn.Dropout(cfg.dropout)
        self.apply(init_weights)

    @property
    def steps(self) -> int:
        return len(self.first)

    # -- pieces ----------------------------------------------------------------------------------
    def embed_tokens(self, codes: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """Code embedding + token-identity embedding. codes (B, ..., T) long, ids (..., T) -> (B, ..., T, D)"""
        return self.code_emb(codes + self.code_offset[ids]) + self.token_id_emb(ids)

    def step_embed(self, codes: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """LSAB: bidirectional attention inside each step, mean over its tokens. (B, S', T) -> (B, S', D)"""
        B, S, T = codes.shape
        x = self.embed_tokens(codes, ids).reshape(B * S, T, -1)
        for blk in self.lsab:
            x = blk(x)
        return x.mean(1).view(B, S, -1)

    def trunk(self, x: torch.Tensor, causal: bool) -> torch.Tensor:
        """GCSAB over whole sequences. (B, S', D) -> (B, S', D)"""
        x = self.drop(x)
        for blk in self.gcsab:
            x = blk(x, causal=causal)
        return self.gcsab_norm(x)

    def predict(self, h: torch.Tensor, ids: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        """PH: per step, query tokens = hidden + token identity (+ condition).

        h (B, S', D), ids (S', T) -> (B, S', T, D)"""
        q = h[:, :, None] + self.token_id_emb(ids)
        if cond is not None:
            q = q + cond[:, :, None]
        B, S, T, D = q.shape
        x = q.reshape(B * S, T, D)
        for blk in self.ph:
            x = blk(x)
        return self.ph_norm(x).view(B, S, T, D)

    def head(self, feats: torch.Tensor, ids: list[int]) -> torch.Tensor:
        """Logits of the tokens ``ids`` (all of one vocabulary). feats (B, T, D) -> (B, T, K)"""
        sparse = [t < self.n_sparse for t in ids]
        assert all(sparse) or not any(sparse), "a head call mixes sparse and dense tokens"
        return (self.sparse_head if sparse[0] else self.dense_head)(feats)

    def sos_embed(self, sparse_pf: torch.Tensor, scores: torch.Tensor | None = None) -> torch.Tensor:
        """SOS from the pose-frame sparse pose (B, 17, 2) and, when score-aware, its scores (B, 17; None: all 1)."""
        assert sparse_pf.shape[1:] == (17, 2), f"sparse_pf must be (B, 17, 2), got {tuple(sparse_pf.shape)}"
        x = sparse_pf.flatten(1)
        if self.cfg.score_input:
            x = torch.cat([x, torch.ones_like(x[:, :17]) if scores is None else scores.to(x)], 1)
        return self.sos(x)[:, None]  # (B, 1, D)

    # -- teacher forcing -------------------------------------------------------------------------
    def forward(
        self,
        sparse_pf: torch.Tensor,
        sparse_idx: torch.Tensor,
        dense_idx: torch.Tensor,
        scores: torch.Tensor | None = None,
    ):
        """Teacher-forced logits of every token: ((B, 16, K), (B, 48, K)); ``scores`` (B, 17) if score-aware."""
        B = sparse_pf.shape[0]
        assert sparse_idx.shape == (B, self.n_sparse) and dense_idx.shape == (B, self.n_dense)
        codes = torch.cat([sparse_idx, dense_idx], 1)  # (B, 64) flat order
        sos = self.sos_embed(sparse_pf, scores)
        if self.arm:
            step_ids = torch.cat([self.first_ids, self.second_ids], 1)[:-1]  # (S-1, T): steps fed back
            steps = self.step_embed(codes[:, step_ids], step_ids)  # (B, S-1, D)
            h = self.trunk(torch.cat([sos, steps], 1) + self.step_pos.weight, causal=True)
            cond = self.embed_tokens(codes[:, self.first_ids], self.first_ids).sum(2)  # (B, S, D)
        else:
            h = self.trunk(sos + self.step_pos.weight, causal=False)
            cond = None
        feats = [self.predict(h, self.first_ids, None).flatten(1, 2)]
        if self.second_ids.shape[1]:
            feats.append(self.predict(h, self.second_ids, cond).flatten(1, 2))
        feats = torch.cat(feats, 1)[:, self.flat_from_sched]  # (B, 64, D) flat order
        return self.sparse_head(feats[:, : self.n_sparse]), self.dense_head(feats[:, self.n_sparse :])

    def loss(self, sparse_logits, dense_logits, sparse_idx, dense_idx) -> tuple[torch.Tensor, dict[str, float]]:
        """CE(sparse) + dense_weight x CE(dense), plus token accuracies for the logs."""
        ce_s = F.cross_entropy(sparse_logits.flatten(0, 1).float(), sparse_idx.flatten())
        ce_d = F.cross_entropy(dense_logits.flatten(0, 1).float(), dense_idx.flatten())
        stats = {
            "ce_sparse": ce_s.item(),
            "ce_dense": ce_d.item(),
            "acc_sparse": (sparse_logits.argmax(-1) == sparse_idx).float().mean().item(),
            "acc_dense": (dense_logits.argmax(-1) == dense_idx).float().mean().item(),
        }
        return ce_s + self.cfg.dense_weight * ce_d, stats

    # -- generation ------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(
        self,
        sparse_pf: torch.Tensor,
        use_cache: bool = True,
        temperature: float = 0.0,
        top_k: int = 0,
        return_logits: bool = False,
        scores: torch.Tensor | None = None,
    ):
        """Tokens (B, 16), (B, 48) for a sparse pose (B, 17, 2); greedy unless ``temperature > 0``.

        ``use_cache=False`` recomputes the whole prefix at every step (the reference the cache is
        tested against). ``return_logits`` also returns the logits seen while choosing.
        """
        if not self.arm:
            s_logits, d_logits = self.forward(sparse_pf, *self._blank(sparse_pf), scores=scores)
            out = (choose(s_logits, temperature, top_k), choose(d_logits, temperature, top_k))
            return out + (s_logits, d_logits) if return_logits else out
        x = self.sos_embed(sparse_pf, scores)[:, 0]  # (B, D) the next GCSAB input
        # an exported graph carries the cache as tensors (see hipart.layers.KVCache)
        cache = KVCache(len(self.gcsab), self.steps, grow=torch.onnx.is_in_onnx_export()) if use_cache else None
        seq, codes, logits = [], [], []
        for k in range(self.steps):
            x = x + self.step_pos.weight[k]
            if cache is not None:  # one GCSAB row per step, attending to the cached ones
                h = step_blocks(self.gcsab, x, cache=cache, norm=self.gcsab_norm)
                cache.advance()
            else:
                seq.append(x)
                h = self.trunk(torch.stack(seq, 1), causal=True)[:, -1]
            step_codes, step_logits = self._predict_step(h, k, temperature, top_k)
            codes.append(step_codes)
            logits += step_logits
            if k + 1 < self.steps:
                x = self._step_input(step_codes, k)
        codes = torch.cat(codes, 1)[:, self.flat_from_steps]  # (B, 64) generation order -> flat order
        out = (codes[:, : self.n_sparse], codes[:, self.n_sparse :])
        if return_logits:
            logits = torch.stack(logits, 1)[:, self.flat_from_steps]  # (B, 64, K)
            out += (logits[:, : self.n_sparse], logits[:, self.n_sparse :])
        return out

    @torch.no_grad()
    def generate_jacobi(
        self,
        sparse_pf: torch.Tensor,
        draft: tuple[torch.Tensor, torch.Tensor] | None = None,
        scores: torch.Tensor | None = None,
    ):
        """Greedy tokens as :meth:`generate`, several steps per weight pass (Jacobi decoding).

        Each pass is one teacher-forced forward over the current guess of all 64 tokens; its argmax is
        the next guess. The tokens of a step depend only on earlier steps (and a step's second tokens on
        its first ones), so every pass fixes at least the first group of tokens that the guess had wrong,
        and a guess that is its own argmax is exactly the greedy sequence. ``draft`` (B, 16), (B, 48):
        the first guess (a cheap densifier's tokens, or the previous frame's; None: all code 0). A pose
        leaves the batch once its guess holds. -> tokens (B, 16), (B, 48) and the passes run (B,).
        """
        B = sparse_pf.shape[0]
        codes = torch.cat(draft if draft is not None else self._blank(sparse_pf), 1).clone()  # (B, 64) flat order
        passes = torch.zeros(B, dtype=torch.long, device=codes.device)
        active = torch.arange(B, device=codes.device)
        groups = sum(1 + bool(second) for second in self.second) if self.arm else 1
        for _ in range(groups + 1):
            s_logits, d_logits = self.forward(
                sparse_pf[active],
                codes[active, : self.n_sparse],
                codes[active, self.n_sparse :],
                scores=None if scores is None else scores[active],
            )
            guess = torch.cat([s_logits.argmax(-1), d_logits.argmax(-1)], 1)  # (b, 64)
            passes[active] += 1
            settled = (guess == codes[active]).all(1)
            codes[active] = guess
            active = active[~settled]
            if not len(active):
                break
        return codes[:, : self.n_sparse], codes[:, self.n_sparse :], passes

    def _predict_step(self, h: torch.Tensor, k: int, temperature: float, top_k: int):
        """PH for step k: first tokens from h (B, D), then the second ones conditioned on them. -> (B, T), [(B, K)]"""
        first, second = self.first[k], self.second[k]
        f_logits = self._ph_rows(self._queries(h, first), first)  # (B, F, K)
        f_codes = choose(f_logits, temperature, top_k)  # (B, F)
        if not second:
            return f_codes, list(f_logits.unbind(1))
        cond = self._embed_rows(f_codes, first).sum(1)  # (B, D)
        s_logits = self._ph_rows(self._queries(h, second, cond), second)  # (B, G, K)
        s_codes = choose(s_logits, temperature, top_k)
        return torch.cat([f_codes, s_codes], 1), list(f_logits.unbind(1)) + list(s_logits.unbind(1))

    def _queries(self, h: torch.Tensor, ids: list[int], cond: torch.Tensor | None = None) -> torch.Tensor:
        """PH query rows of one step: hidden + token identity (+ condition). h (B, D) -> (B * T, D)"""
        if len(ids) == 1 and cond is None:  # already one row per pose
            return h + self.token_id_emb.weight[ids[0]]
        q = h[:, None] + self.token_id_emb.weight[ids]  # (B, T, D)
        return (q if cond is None else q + cond[:, None]).reshape(-1, self.cfg.dim)

    def _ph_rows(self, x: torch.Tensor, ids: list[int]) -> torch.Tensor:
        """PH blocks and head over the query rows of one step (its tokens consecutive).

        (B * T, D) -> logits (B, T, K)"""
        x = step_blocks(self.ph, x, tokens=len(ids), norm=self.ph_norm)
        return self.head(x, ids).view(-1, len(ids), self.vocab)

    def _embed_rows(self, codes: torch.Tensor, ids: list[int]) -> torch.Tensor:
        """:meth:`embed_tokens` with the ids of one step as constants. codes (B, T) -> (B, T, D)"""
        offsets = [int(self.code_offset[t]) for t in ids]
        codes = codes + torch.tensor(offsets, device=codes.device) if any(offsets) else codes
        return self.code_emb(codes) + self.token_id_emb.weight[ids]

    def _step_input(self, codes: torch.Tensor, k: int) -> torch.Tensor:
        """LSAB over step k's chosen tokens, averaged: the next GCSAB input. codes (B, T) -> (B, D)"""
        ids = self.first[k] + self.second[k]
        T, D = len(ids), self.cfg.dim
        x = step_blocks(self.lsab, self._embed_rows(codes, ids).reshape(-1, D), tokens=T)  # (B * T, D)
        return x.view(-1, T, D).mean(1)

    def _blank(self, sparse_pf):
        B = sparse_pf.shape[0]
        z = lambda n: torch.zeros(B, n, dtype=torch.long, device=sparse_pf.device)
        return z(self.n_sparse), z(self.n_dense)

    @torch.no_grad()
    def hypotheses(
        self,
        sparse_pf: torch.Tensor,
        n: int,
        temperature: float = 1.0,
        top_k: int = 0,
        scores: torch.Tensor | None = None,
    ):
        """``n`` sampled token sets per pose (beyond the paper): ((B, n, 16), (B, n, 48))."""
        scores = None if scores is None else scores.repeat_interleave(n, 0)
        s, d = self.generate(sparse_pf.repeat_interleave(n, 0), temperature=temperature, top_k=top_k, scores=scores)
        return s.view(-1, n, self.n_sparse), d.view(-1, n, self.n_dense)


def init_weights(module: nn.Module) -> None:
    """GPT-style init: small normal weights, zero biases, unit LayerNorm."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, std=0.02)
        if getattr(module, "bias", None) is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
