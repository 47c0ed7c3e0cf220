"""Lion (Chen et al., 2023): ``w <- w (1 - lr wd) - lr sign(b1 m + (1 - b1) g)``, then
``m <- b2 m + (1 - b2) g``; a single-tensor and a foreach path, and the same update as a
plain loop to check them against."""

import torch


class Lion(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0, *, foreach=None):
        if lr < 0:
            raise ValueError(f"Invalid learning rate: {lr}")
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay,
                                      foreach=foreach))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            grads = [p.grad for p in params]
            ms = [self.state[p].setdefault("exp_avg", torch.zeros_like(p)) for p in params]
            if params:
                (self._foreach if group.get("foreach") else self._single)(params, grads, ms, group)
        return loss

    @staticmethod
    def _single(params, grads, ms, group):
        (b1, b2), lr, wd = group["betas"], group["lr"], group["weight_decay"]
        for p, g, m in zip(params, grads, ms, strict=True):
            c = m * b1 + g * (1 - b1)
            p.mul_(1 - lr * wd).add_(torch.sign(c), alpha=-lr)
            m.mul_(b2).add_(g * (1 - b2))

    @staticmethod
    def _foreach(params, grads, ms, group):
        (b1, b2), lr, wd = group["betas"], group["lr"], group["weight_decay"]
        c = torch._foreach_add(torch._foreach_mul(ms, b1), torch._foreach_mul(grads, 1 - b1))
        torch._foreach_mul_(params, 1 - lr * wd)
        torch._foreach_add_(params, torch._foreach_sign(c), alpha=-lr)
        torch._foreach_mul_(ms, b2)
        torch._foreach_add_(ms, torch._foreach_mul(grads, 1 - b2))


class LionLoop(torch.optim.Optimizer):
    """The update as written in the paper, one parameter at a time, out of place."""

    def __init__(self, params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            (b1, b2), lr, wd = group["betas"], group["lr"], group["weight_decay"]
            for w in group["params"]:
                if w.grad is None:
                    continue
                g, state = w.grad, self.state[w]
                m = state.get("exp_avg", torch.zeros_like(w))
                w.copy_(w * (1 - lr * wd) - lr * torch.sign(b1 * m + (1 - b1) * g))
                state["exp_avg"] = b2 * m + (1 - b2) * g
        return loss


class LionWrongDefault(Lion):
    """Broken: Adam's beta2 of 0.999 as the default instead of Lion's 0.99."""

    def __init__(self, params, lr=1e-4, betas=(0.9, 0.999), weight_decay=0.0, *, foreach=None):
        super().__init__(params, lr, betas, weight_decay, foreach=foreach)


class LionForeachNoDecay(Lion):
    """Broken: the foreach path forgets the weight decay."""

    @staticmethod
    def _foreach(params, grads, ms, group):
        Lion._foreach(params, grads, ms, {**group, "weight_decay": 0.0})
