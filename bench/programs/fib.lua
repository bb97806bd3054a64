-- The 32nd Fibonacci number, computed by naive recursion: 7,049,155 calls.
local function fib(n)
    if n < 2 then
        return n
    end
    return fib(n - 1) + fib(n - 2)
end

print(fib(32))
